import { execFile } from 'node:child_process';
import { mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import tar, { type Header } from 'tar-stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDaemon } from './support/fixture.js';
import type { CliResult } from './support/docker-cli.js';

// The real docker CLI (28.2) copying into and out of containers on berthd (PUT/GET/HEAD
// /containers/{id}/archive); contents checked from inside with `docker exec cat`.
describe('docker cp against berthd', () => {
  const t = useTestDaemon({ busybox: 'builtin', daemon: { logLevel: 'fatal' } });
  let env: NodeJS.ProcessEnv;
  let src: string;
  const suffix = Math.random().toString(16).slice(2, 8);
  const name = (n: string): string => `${n}-${suffix}`;

  const docker = (args: string[], opts: { input?: Buffer; cwd?: string } = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      const child = execFile('docker', args, { env, cwd: opts.cwd, timeout: 60_000, killSignal: 'SIGKILL', encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout: stdout.toString('latin1'), stderr: stderr.toString() });
      });
      child.stdin!.end(opts.input);
    });
  const ok = async (args: string[], opts: { input?: Buffer; cwd?: string } = {}): Promise<string> => {
    const r = await docker(args, opts);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const cat = (ctr: string, path: string): Promise<string> => ok(['exec', ctr, 'cat', path]);
  const tarOf = (dir: string, ...names: string[]): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      execFile('tar', ['-C', dir, '-cf', '-', ...names], { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, out) => (err ? reject(err) : resolve(out))),
    );

  beforeAll(async () => {
    env = t.dockerEnv;
    src = join(t.dir, 'src');
    await mkdir(join(src, 'dir', 'sub'), { recursive: true });
    await writeFile(join(src, 'file.txt'), 'a file\n');
    await writeFile(join(src, 'dir', 'top.txt'), 'top\n');
    await writeFile(join(src, 'dir', 'sub', 'deep.txt'), 'deep\n');
    await symlink('top.txt', join(src, 'dir', 'link'));
    await ok(['run', '-d', '--name', name('run'), '--network', 'none', 'busybox', 'sleep', '300']);
  });

  it('copies a file into a directory and to a new name', async () => {
    const c = name('run');
    const r = await docker(['cp', join(src, 'file.txt'), `${c}:/tmp/`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(await cat(c, '/tmp/file.txt')).toBe('a file\n');
    await ok(['cp', join(src, 'file.txt'), `${c}:/tmp/renamed.txt`]);
    expect(await cat(c, '/tmp/renamed.txt')).toBe('a file\n');
    // onto an existing file: replaced
    await writeFile(join(t.dir, 'other.txt'), 'other\n');
    await ok(['cp', join(t.dir, 'other.txt'), `${c}:/tmp/renamed.txt`]);
    expect(await cat(c, '/tmp/renamed.txt')).toBe('other\n');
  });

  it('copies a directory, its contents (dir/.), and to a new directory name', async () => {
    const c = name('run');
    await ok(['cp', join(src, 'dir'), `${c}:/tmp/`]);
    expect(await cat(c, '/tmp/dir/sub/deep.txt')).toBe('deep\n');
    expect((await ok(['exec', c, 'readlink', '/tmp/dir/link'])).trim()).toBe('top.txt');
    await ok(['exec', c, 'mkdir', '/tmp/into']);
    await ok(['cp', `${join(src, 'dir')}/.`, `${c}:/tmp/into`]);
    expect(await cat(c, '/tmp/into/top.txt')).toBe('top\n');
    expect(await cat(c, '/tmp/into/sub/deep.txt')).toBe('deep\n');
    await ok(['cp', join(src, 'dir'), `${c}:/tmp/newname`]);
    expect(await cat(c, '/tmp/newname/top.txt')).toBe('top\n');
  });

  it('copies a tar from stdin (-)', async () => {
    const c = name('run');
    await ok(['exec', c, 'mkdir', '/tmp/stdin']);
    await ok(['cp', '-', `${c}:/tmp/stdin`], { input: await tarOf(src, 'file.txt', 'dir') });
    expect(await cat(c, '/tmp/stdin/file.txt')).toBe('a file\n');
    expect(await cat(c, '/tmp/stdin/dir/sub/deep.txt')).toBe('deep\n');
  });

  it('round-trips container -> host (file, dir, dir/., stdout -)', async () => {
    const c = name('run');
    const out = join(t.dir, 'out');
    await mkdir(out);
    await ok(['cp', `${c}:/tmp/dir`, out]);
    expect(await readFile(join(out, 'dir', 'sub', 'deep.txt'), 'utf8')).toBe('deep\n');
    expect(await readlink(join(out, 'dir', 'link'))).toBe('top.txt');
    await ok(['cp', `${c}:/tmp/file.txt`, join(out, 'copy.txt')]);
    expect(await readFile(join(out, 'copy.txt'), 'utf8')).toBe('a file\n');
    await mkdir(join(out, 'contents'));
    await ok(['cp', `${c}:/tmp/dir/.`, join(out, 'contents')]);
    expect(await readFile(join(out, 'contents', 'top.txt'), 'utf8')).toBe('top\n');
    const tarOut = await ok(['cp', `${c}:/tmp/file.txt`, '-']);
    expect(tarOut).toContain('a file\n');
    expect(tarOut.slice(0, 8)).toBe('file.txt');
  });

  it('copies into a stopped container and into its volume', async () => {
    const c = name('stopped');
    const vol = name('cpvol');
    await ok(['create', '--name', c, '--network', 'none', '-v', `${vol}:/data`, 'busybox', 'sleep', '300']);
    await ok(['cp', join(src, 'file.txt'), `${c}:/tmp/`]);
    await ok(['cp', join(src, 'dir'), `${c}:/data/`]);
    await ok(['start', c]);
    expect(await cat(c, '/tmp/file.txt')).toBe('a file\n');
    expect(await cat(c, '/data/dir/top.txt')).toBe('top\n');
    const mountpoint = (await ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', vol])).trim();
    expect((await stat(join(mountpoint, 'dir', 'sub', 'deep.txt'))).isFile()).toBe(true);
    await ok(['rm', '-f', '-v', c]);
    await ok(['volume', 'rm', vol]);
  });

  it('extraction errors read as dockerd 20.10 words them (recorded from a real dockerd, same docker CLI)', async () => {
    const c = name('run');
    await ok(['exec', c, 'mkdir', '-p', '/tmp/errs']);
    const pack = async (entries: (Partial<Header> & { name: string; body?: string })[], cut?: number): Promise<Buffer> => {
      const p = tar.pack();
      const chunks: Buffer[] = [];
      const done = (async () => {
        for await (const ch of p) chunks.push(ch as Buffer);
      })();
      for (const { body, ...h } of entries) await new Promise<void>((res, rej) => p.entry({ type: 'file', mode: 0o644, ...h }, body ?? '', (e) => (e ? rej(e) : res())));
      p.finalize();
      await done;
      const all = Buffer.concat(chunks);
      return cut ? all.subarray(0, cut) : all;
    };
    const prefix = 'Error response from daemon: Error processing tar file(exit status 1): ';
    const cases: [Buffer, string, string][] = [
      [await pack([{ name: 'big', body: 'q'.repeat(5000) }], 2048), '/tmp/errs', 'unexpected EOF'],
      [await pack([{ name: 'up', type: 'symlink', linkname: '../../../../../etc' }]), '/tmp/errs', 'invalid symlink "/tmp/errs/up" -> "../../../../../etc"'],
      [await pack([{ name: 'h', type: 'link', linkname: '../etc/passwd' }]), '/tmp', 'invalid hardlink "/etc/passwd" -> "../etc/passwd"'],
      [await pack([{ name: 'etc', body: 'a file over a directory' }]), '/', 'cannot overwrite directory "/etc" with non-directory "/"'],
      [await pack([{ name: 'passwd/', type: 'directory' }]), '/etc', 'cannot overwrite non-directory "/etc/passwd" with directory "/etc"'],
    ];
    for (const [input, dest, what] of cases) {
      const r = await docker(['cp', '-', `${c}:${dest}`], { input });
      expect({ dest, ...r }).toEqual({ dest, code: 1, stdout: '', stderr: `${prefix}${what}\n` });
    }
    // ../ is taken from the destination and clamped at / (as Go's filepath.Join does): it stays inside
    await ok(['cp', '-', `${c}:/tmp/errs`], { input: await pack([{ name: '../../../../tmp/errs/clamped', body: 'in' }]) });
    expect(await cat(c, '/tmp/errs/clamped')).toBe('in');
  });

  it('a client that hangs up mid-upload leaves the container running and unlocked', async () => {
    const c = name('run');
    const whole = await tarOf(src, 'dir');
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(t.socketPath, () => {
        sock.write(`PUT /containers/${c}/archive?path=/tmp HTTP/1.1\r\nHost: berthd\r\nContent-Type: application/x-tar\r\nContent-Length: ${whole.length}\r\n\r\n`);
        sock.write(whole.subarray(0, 1024), () => setTimeout(() => (sock.destroy(), resolve()), 200));
      });
      sock.on('error', reject);
    });
    // the next copy and exec go through: the pause was undone and the lock released
    await ok(['exec', c, 'mkdir', '-p', '/tmp/after']);
    await ok(['cp', join(src, 'file.txt'), `${c}:/tmp/after/`]);
    expect(await cat(c, '/tmp/after/file.txt')).toBe('a file\n');
    expect((await ok(['inspect', '-f', '{{.State.Status}}', c])).trim()).toBe('running');
  });

  it('an error answered while the client still uploads reaches it (berthd reads the rest, never resets)', async () => {
    const c = name('run');
    const big = join(t.dir, 'big');
    await mkdir(join(big, 'f'), { recursive: true });
    await writeFile(join(big, 'f', 'zz-blob'), Buffer.alloc(32 << 20, 0x62));
    await ok(['exec', c, 'sh', '-c', 'mkdir -p /tmp/ow && echo x > /tmp/ow/f']);
    // (docker logs its own tar goroutine's broken pipe when the answer cuts it short)
    const strip = (r: CliResult): CliResult => ({ ...r, stderr: r.stderr.replace(/^time=.* level=error .*\n/gm, '') });
    for (let i = 0; i < 3; i++) {
      // refused before the body is read
      expect(strip(await docker(['cp', join(big, 'f'), `${c}:/nope/x`]))).toEqual({ code: 1, stdout: '', stderr: `Error response from daemon: Could not find the file /nope in container ${c}\n` });
      // refused at the first entry, 32 MB still to come
      expect(strip(await docker(['cp', join(big, 'f'), `${c}:/tmp/ow/`]))).toEqual({
        code: 1,
        stdout: '',
        stderr: 'Error response from daemon: Error processing tar file(exit status 1): cannot overwrite non-directory "/tmp/ow/f" with directory "/tmp/ow"\n',
      });
    }
    expect((await ok(['inspect', '-f', '{{.State.Status}}', c])).trim()).toBe('running');
  });

  it("errors as Docker's: missing parent, file destination for a tar, read-only rootfs, unknown container", async () => {
    const c = name('run');
    const missing = await docker(['cp', join(src, 'file.txt'), `${c}:/nope/x`]);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe(`Error response from daemon: Could not find the file /nope in container ${c}\n`);
    const notDir = await docker(['cp', '-', `${c}:/etc/passwd`], { input: await tarOf(src, 'file.txt') });
    expect(notDir.code).toBe(1);
    expect(notDir.stderr).toBe(`destination "${c}:/etc/passwd" must be a directory\n`);
    const ro = name('ro');
    await ok(['run', '-d', '--read-only', '--name', ro, '--network', 'none', 'busybox', 'sleep', '300']);
    const roErr = await docker(['cp', join(src, 'file.txt'), `${ro}:/tmp/`]);
    expect(roErr.code).toBe(1);
    expect(roErr.stderr).toBe('Error response from daemon: container rootfs is marked read-only\n');
    // (a trailing slash would make the CLI answer "no such directory" itself, as with dockerd)
    const noCtr = await docker(['cp', join(src, 'file.txt'), `nosuch-${suffix}:/tmp/x`]);
    expect(noCtr.code).toBe(1);
    expect(noCtr.stderr).toBe(`Error response from daemon: No such container: nosuch-${suffix}\n`);
    const badTar = await docker(['cp', '-', `${c}:/tmp`], { input: Buffer.alloc(2048, 'z') });
    expect(badTar.code).toBe(1);
    expect(badTar.stderr).toBe("Error response from daemon: Error processing tar file(exit status 1): archive/tar: invalid tar header\n");
    await ok(['rm', '-f', ro]);
  });
});
