import { execFile } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { BerthError } from '@berth/image-format';
import { DirSnapshotter, type SnapshotterOptions } from './base.js';
import type { Mount, SnapshotKind } from './snapshotter.js';

const run = promisify(execFile);

/**
 * Full copies: a child starts as `cp -a` of its parent. For filesystems without overlay
 * support and for testing the logic; layers are applied with whiteouts as deletions.
 */
export class NativeSnapshotter extends DirSnapshotter {
  readonly name = 'native';

  private constructor(root: string, opts: SnapshotterOptions) {
    super(root, 'native', opts);
  }

  static async open(root: string, opts: SnapshotterOptions = {}): Promise<NativeSnapshotter> {
    const s = new NativeSnapshotter(root, opts);
    await s.init(opts.recover ?? true);
    return s;
  }

  protected async populate(id: number, parentIds: number[]): Promise<void> {
    const fs = this.fsDir(id);
    await mkdir(fs);
    const parent = parentIds[0];
    if (parent === undefined) return;
    try {
      // cp -a keeps owners, modes, times, xattrs, devices and hardlinks; reflinks when the
      // filesystem has them.
      await run('cp', ['-a', '--reflink=auto', '--', this.fsDir(parent) + '/.', fs + '/']);
    } catch (err) {
      throw new BerthError('Internal', `copying snapshot failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
    }
  }

  protected mountsFor(id: number, _parentIds: number[], kind: SnapshotKind): Mount[] {
    return [{ type: 'bind', source: this.fsDir(id), options: ['rbind', kind === 'active' ? 'rw' : 'ro'] }];
  }

  protected whiteoutMode(): 'delete' {
    return 'delete';
  }

  protected async unmountOwned(id: number): Promise<void> {
    const own = await stat(this.fsDir(id)).catch(() => undefined);
    if (!own) return;
    const suffix = `/${id}/fs`;
    await this.unmountWhere(async (m) => {
      if (!m.root.endsWith(suffix)) return false;
      const st = await stat(m.mountPoint).catch(() => undefined);
      return !!st && st.dev === own.dev && st.ino === own.ino;
    });
  }
}
