/**
 * BackupFiles on Windows: CreateFileW with FILE_FLAG_BACKUP_SEMANTICS (directories open
 * too) and BackupRead/BackupWrite with bProcessSecurity, as go-winio's
 * BackupFileReader/Writer and hcsshim's legacy layer reader/writer. No SACL is asked for
 * (ACCESS_SYSTEM_SECURITY needs SeSecurityPrivilege enabled); writing an owner other than
 * berthd's own needs SeRestorePrivilege enabled, which hcsshim does around its layer
 * writes (winio.RunWithPrivileges) and Berth does not do yet. Each call runs on a worker (`.async`): BackupRead and
 * BackupWrite block on the disk. The context BackupRead/BackupWrite keep between calls is
 * released by a last call with bAbort. Windows only: nothing here runs on Linux.
 */
import { mkdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { HRESULT, HcsError } from '../hresult.js';
import type { BackupFiles } from '../backup/files.js';
import type { Native } from './native.js';

const GENERIC_READ = 0x80000000;
const GENERIC_WRITE = 0x40000000;
const READ_CONTROL = 0x00020000;
const WRITE_DAC = 0x00040000;
const WRITE_OWNER = 0x00080000;
const FILE_SHARE_READ = 1;
const OPEN_EXISTING = 3;
const OPEN_ALWAYS = 4;
const FILE_FLAG_BACKUP_SEMANTICS = 0x02000000;
const FILE_FLAG_OPEN_REPARSE_POINT = 0x00200000;
const CHUNK = 64 * 1024;

export class Win32BackupFiles implements BackupFiles {
  constructor(private readonly native: Native) {}

  private async open(path: string, access: number, disposition: number): Promise<unknown> {
    const { koffi } = this.native;
    const h = await new Promise<unknown>((resolve, reject) =>
      this.native.fn('CreateFileW').async(`\\\\?\\${path}`, access, FILE_SHARE_READ, null, disposition, FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, null, (err: unknown, r: unknown) => (err ? reject(err as Error) : resolve(r))),
    );
    // INVALID_HANDLE_VALUE
    if (!h || BigInt.asUintN(64, BigInt(koffi.address(h))) === 0xffffffffffffffffn) throw this.lastError('CreateFileW', path);
    return h;
  }

  private lastError(call: string, path: string): HcsError {
    const code = this.native.fn('GetLastError')() as number;
    // HRESULT_FROM_WIN32
    return new HcsError(code ? ((code & 0xffff) | 0x80070000) | 0 : HRESULT.E_INVALIDARG, call, path);
  }

  private call(name: string, ...args: unknown[]): Promise<number> {
    return new Promise((resolve, reject) => this.native.fn(name).async(...args, (err: unknown, ok: number) => (err ? reject(err as Error) : resolve(ok))));
  }

  read(path: string): Readable {
    const self = this;
    return Readable.from(
      (async function* () {
        const h = await self.open(path, GENERIC_READ | READ_CONTROL, OPEN_EXISTING);
        const context: unknown[] = [null];
        try {
          for (;;) {
            const buf = Buffer.alloc(CHUNK);
            const n = [0];
            if (!(await self.call('BackupRead', h, buf, CHUNK, n, 0, 1, context))) throw self.lastError('BackupRead', path);
            if (n[0] === 0) return;
            yield buf.subarray(0, n[0]);
          }
        } finally {
          await self.call('BackupRead', h, Buffer.alloc(0), 0, [0], 1, 1, context).catch(() => 0);
          self.native.fn('CloseHandle')(h);
        }
      })(),
    );
  }

  async write(path: string, stream: AsyncIterable<Buffer>, options: { directory?: boolean } = {}): Promise<void> {
    if (options.directory) await mkdir(path, { recursive: true });
    const h = await this.open(path, GENERIC_READ | GENERIC_WRITE | WRITE_DAC | WRITE_OWNER, OPEN_ALWAYS);
    const context: unknown[] = [null];
    try {
      for await (const chunk of stream) {
        for (let off = 0; off < chunk.length; ) {
          const part = chunk.subarray(off, off + CHUNK);
          const n = [0];
          if (!(await this.call('BackupWrite', h, part, part.length, n, 0, 1, context))) throw this.lastError('BackupWrite', path);
          off += n[0]!;
        }
      }
    } finally {
      await this.call('BackupWrite', h, Buffer.alloc(0), 0, [0], 1, 1, context).catch(() => 0);
      this.native.fn('CloseHandle')(h);
    }
  }
}
