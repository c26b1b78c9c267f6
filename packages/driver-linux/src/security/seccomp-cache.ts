import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { OciSeccomp } from './seccomp.js';

const execFileAsync = promisify(execFile);

/** crun's annotation: use these base64 bytes as the filter and skip compiling `linux.seccomp`. */
export const SECCOMP_BPF_ANNOTATION = 'run.oci.seccomp_bpf_data';

/**
 * Compiled seccomp filters for crun, so that a container start does not pay crun's
 * JSON-to-BPF compile of the same profile again (~8 ms of CPU for Berth's default).
 * crun leaves the filter it compiled in its state dir (`<root>/<id>/seccomp.bpf`);
 * the first container with a profile donates it, later ones pass it back through
 * the annotation. Entries are keyed by the profile's JSON and the exact crun binary
 * (version output, size, mtime), so another crun or profile never reuses a filter.
 */
export class SeccompFilterCache {
  private constructor(
    private readonly dir: string,
    private readonly binaryKey: string,
  ) {}

  /** A cache for `binary` when it is crun (which honours the annotation); otherwise undefined. */
  static async forRuntime(stateDir: string, name: string, binary: string): Promise<SeccompFilterCache | undefined> {
    if (!name.startsWith('crun')) return undefined;
    try {
      const { stdout } = await execFileAsync(binary, ['--version'], { timeout: 10_000 });
      if (!/^crun version /m.test(stdout)) return undefined;
      const st = await stat(binary);
      const dir = join(stateDir, 'seccomp-cache');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      return new SeccompFilterCache(dir, `${stdout}\0${st.size}\0${st.mtimeMs}\0${st.ino}`);
    } catch {
      return undefined;
    }
  }

  key(profile: OciSeccomp): string {
    return createHash('sha256').update(this.binaryKey).update('\0').update(JSON.stringify(profile)).digest('hex');
  }

  /** The cached filter (base64) for `key`, if a container donated one. */
  async lookup(key: string): Promise<string | undefined> {
    try {
      const bytes = await readFile(join(this.dir, `${key}.bpf`));
      // a classic BPF program is whole 8-byte instructions
      return bytes.length > 0 && bytes.length % 8 === 0 ? bytes.toString('base64') : undefined;
    } catch {
      return undefined;
    }
  }

  /** Keeps the filter crun compiled for a created container (best effort). */
  async donate(key: string, runtimeRoot: string, containerId: string): Promise<void> {
    try {
      const bytes = await readFile(join(runtimeRoot, containerId, 'seccomp.bpf'));
      if (bytes.length === 0 || bytes.length % 8 !== 0) return;
      const file = join(this.dir, `${key}.bpf`);
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      await writeFile(tmp, bytes, { mode: 0o600 });
      await rename(tmp, file);
    } catch {
      // no filter to keep: the next container compiles it again
    }
  }
}
