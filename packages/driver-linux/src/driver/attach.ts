import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { ConflictError } from '@berth/image-format';
import type { AttachedStdio, AttachOptions, TerminalSize } from '@berth/runtime';
import type { DriverContext } from './context.js';

/**
 * Attaches to a container's stdio. Output only is read from the log (detaching never
 * closes the container's stdin); with stdin, a bridge process joins conmon's attach
 * socket and the output comes from it, framed by stream.
 */
export async function attachContainer(ctx: DriverContext, id: string, options: AttachOptions): Promise<AttachedStdio> {
  const rec = await ctx.records.current(id);
  if (!options.stdin) return ctx.logs.attachOutput(rec, options);
  if (!rec.stdin) throw new ConflictError(`container ${id} was not created with stdin open`);
  if (rec.status === 'stopped') throw new ConflictError(`container ${id} is not running`);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const bridge = spawn('perl', [ctx.bridgeScript, join(ctx.socketDir, id, 'attach')], { stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const onData = (c: Buffer) => {
      err += c.toString();
      if (err.includes('connected\n')) {
        bridge.stderr.off('data', onData);
        resolve();
      }
    };
    bridge.stderr.on('data', onData);
    bridge.on('exit', () => reject(new ConflictError(`cannot attach to ${id}: ${err.trim()}`)));
  });
  let pending = Buffer.alloc(0);
  bridge.stdout.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const len = pending.readUInt32BE(0);
      if (pending.length < 4 + len) break;
      const packet = pending.subarray(4, 4 + len);
      pending = pending.subarray(4 + len);
      const kind = packet[0];
      const data = packet.subarray(1);
      if (kind === 2 && options.stdout !== false) stdout.write(data);
      else if (kind === 3 && options.stderr !== false) stderr.write(data);
    }
  });
  bridge.on('close', () => {
    stdout.end();
    stderr.end();
  });
  const stdin = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (bridge.stdin.destroyed) return cb();
      bridge.stdin.write(chunk, () => cb());
    },
    final(cb) {
      bridge.stdin.end(() => cb());
    },
  });
  return {
    stdin,
    stdout,
    stderr,
    close: () => {
      if (bridge.exitCode === null) bridge.kill('SIGTERM');
    },
  };
}

/** A tty container's window size, through conmon's ctl fifo. */
export async function resizeContainer(ctx: DriverContext, id: string, size: TerminalSize): Promise<void> {
  const rec = await ctx.records.current(id);
  if (!rec.tty) throw new ConflictError(`container ${id} has no tty`);
  if (rec.status === 'stopped') return;
  const h = Math.max(0, Math.min(1000, Math.floor(size.height)));
  const w = Math.max(0, Math.min(1000, Math.floor(size.width)));
  await writeFile(join(rec.bundle, 'ctl'), `1 ${h} ${w}\n`, { flag: 'a' });
}
