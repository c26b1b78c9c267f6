import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { execFailureCode, TailTap } from './exec-failure.js';

describe('exec failure codes', () => {
  it("maps the runtimes' could-not-start messages to Docker's 127 (missing) and 126 (not executable)", () => {
    // crun 1.8
    expect(execFailureCode('executable file `nope` not found in $PATH: No such file or directory\n')).toBe(127);
    expect(execFailureCode('open executable: Permission denied\n')).toBe(126);
    expect(execFailureCode('open executable: Operation not permitted\n')).toBe(126);
    // runc 1.1
    expect(execFailureCode('exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown')).toBe(127);
    expect(execFailureCode('exec failed: unable to start container process: exec: "/nope": stat /nope: no such file or directory: unknown')).toBe(127);
    expect(execFailureCode('exec failed: unable to start container process: exec: "/etc/passwd": permission denied: unknown')).toBe(126);
    // a process's own output is not the runtime's
    expect(execFailureCode('some program failed\n')).toBeUndefined();
  });

  it('the tap passes bytes through unchanged and keeps only a bounded tail', async () => {
    const tap = new TailTap(8);
    const out: Buffer[] = [];
    const src = new PassThrough();
    src.pipe(tap).on('data', (c: Buffer) => out.push(c));
    src.write(Buffer.from([0xff, 0x00, 0x01]));
    src.end(Buffer.from('hello world'));
    await new Promise((r) => tap.on('end', r));
    expect(Buffer.concat(out)).toEqual(Buffer.concat([Buffer.from([0xff, 0x00, 0x01]), Buffer.from('hello world')]));
    expect(tap.tail()).toBe('lo world');
  });
});
