import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DirSnapshotter, type SnapshotterOptions } from './base.js';
import type { Mount, SnapshotKind } from './snapshotter.js';

/**
 * Overlayfs snapshots: each snapshot's own changes live in `<id>/fs` (the upper dir while
 * active, a lower dir once committed), with overlayfs whiteouts. Committed snapshots are
 * keyed by chainID by their users and shared by every child.
 */
export class OverlaySnapshotter extends DirSnapshotter {
  readonly name = 'overlay';
  /** Names this root's mounts in /proc/self/mountinfo, to find them again after a crash. */
  private readonly tag: string;

  private constructor(root: string, opts: SnapshotterOptions) {
    super(root, 'overlay', opts);
    this.tag = 'berth-' + createHash('sha256').update(this.dir).digest('hex').slice(0, 12);
  }

  static async open(root: string, opts: SnapshotterOptions = {}): Promise<OverlaySnapshotter> {
    const s = new OverlaySnapshotter(root, opts);
    await mkdir(join(s.dir, 'empty'), { recursive: true });
    await s.init(opts.recover ?? true);
    return s;
  }

  protected async populate(id: number, _parentIds: number[], kind: SnapshotKind): Promise<void> {
    await mkdir(this.fsDir(id));
    if (kind === 'active') await mkdir(join(this.dir, String(id), 'work'));
  }

  protected mountsFor(id: number, parentIds: number[], kind: SnapshotKind): Mount[] {
    const source = `${this.tag}-${id}`;
    const lowers = parentIds.map((p) => this.fsDir(p));
    if (kind === 'active') {
      return [
        {
          type: 'overlay',
          source,
          options: [
            `lowerdir=${(lowers.length ? lowers : [join(this.dir, 'empty')]).join(':')}`,
            `upperdir=${this.fsDir(id)}`,
            `workdir=${join(this.dir, String(id), 'work')}`,
          ],
        },
      ];
    }
    // Read-only: no upper dir, and overlayfs then wants at least two lowers: the
    // snapshot's own directory (empty for a view) on top, and the shared empty directory
    // at the bottom when there is nothing else.
    const ro = [this.fsDir(id), ...lowers];
    if (ro.length < 2) ro.push(join(this.dir, 'empty'));
    return [{ type: 'overlay', source, options: [`lowerdir=${ro.join(':')}`] }];
  }

  protected whiteoutMode(): 'overlay' {
    return 'overlay';
  }

  protected async unmountOwned(id: number): Promise<void> {
    const source = `${this.tag}-${id}`;
    await this.unmountWhere((m) => m.fsType === 'overlay' && m.source === source);
  }
}
