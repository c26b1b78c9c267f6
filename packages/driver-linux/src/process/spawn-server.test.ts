import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDirect } from './run-program.js';
import { MOUNT_SYSCALLS } from './syscall-numbers.js';
import { ProgramStartError, SpawnServer } from './spawn-server.js';

describe.each([
  ['SpawnServer', () => { const s = new SpawnServer(); return { run: s.run.bind(s), close: () => s.close() }; }],
  ['runDirect', () => ({ run: runDirect, close: () => undefined })],
] as const)('%s', (_name, make) => {
  const runner = make();
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-spawn-'));
  });
  afterAll(async () => {
    runner.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('returns exit code, stdout and stderr (binary-safe), and feeds stdin', async () => {
    const r = await runner.run('/bin/sh', ['-c', 'cat; printf "\\000\\377 out"; echo err >&2; exit 3'], { input: 'from stdin\n' });
    expect(r.code).toBe(3);
    expect(r.stdout).toEqual(Buffer.concat([Buffer.from('from stdin\n'), Buffer.from([0, 255]), Buffer.from(' out')]));
    expect(r.stderr.toString()).toBe('err\n');
  });

  it('passes argv as given (spaces, empty strings, newlines), env and cwd', async () => {
    const r = await runner.run('/bin/sh', ['-c', 'printf "%s|" "$@"; printf "%s %s" "$FOO" "$(pwd)"', 'sh', 'a b', '', 'x\ny'], { env: { FOO: 'bar=baz', PATH: '/usr/bin:/bin' }, cwd: dir });
    expect(r.stdout.toString()).toBe(`a b||x\ny|bar=baz ${dir}`);
  });

  it('kills a program at its timeout and reports the signal', async () => {
    const t0 = Date.now();
    const r = await runner.run('/bin/sleep', ['10'], { timeoutMs: 200 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.signal).toBe(9);
    expect(r.code).toBe(137);
  });

  it('a program that cannot start is a ProgramStartError', async () => {
    await expect(runner.run(join(dir, 'missing'), [])).rejects.toBeInstanceOf(ProgramStartError);
    const notExec = join(dir, 'plain');
    await writeFile(notExec, 'x');
    await chmod(notExec, 0o644);
    await expect(runner.run(notExec, [])).rejects.toBeInstanceOf(ProgramStartError);
  });

  it('runs many at once and answers each its own', async () => {
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => runner.run('/bin/sh', ['-c', `sleep 0.0${i % 5}; echo ${i}`])));
    expect(rs.map((r) => r.stdout.toString().trim())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });
});

describe('SpawnServer lifecycle', () => {
  it('does not keep the process alive when idle, and its callers fail cleanly if it dies', async () => {
    const s = new SpawnServer();
    expect((await s.run('/bin/true', [])).code).toBe(0);
    const slow = s.run('/bin/sleep', ['5']);
    (s as unknown as { child: { kill(sig: string): void } }).child.kill('SIGKILL');
    await expect(slow).rejects.toThrow(/spawn helper exited/);
    expect(s.usable).toBe(false);
  });
});

describe('SpawnServer daemon mode', () => {
  it('answers at the first sync message on fd 3 while the program runs on in its own session', async () => {
    const s = new SpawnServer();
    try {
      const script = 'echo starting >&2; printf \'{"data": %d}\\n\' $$ >&3; sleep 30';
      const t0 = Date.now();
      const r = await s.daemon('/bin/sh', ['-c', script], { env: { PATH: '/usr/bin:/bin' } });
      expect(Date.now() - t0).toBeLessThan(5000);
      const pid = (JSON.parse(r.stdout.toString()) as { data: number }).data;
      expect(r.stderr.toString()).toBe('starting\n');
      expect(() => process.kill(pid, 0)).not.toThrow();
      // setsid: a session of its own
      const stat = (await import('node:fs/promises')).readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = (await stat).slice((await stat).lastIndexOf(')') + 2).split(' ');
      expect(Number(fields[3])).toBe(pid);
      process.kill(pid, 'SIGKILL');
      // a failure to start: the sync pipe closes without a message
      const failed = await s.daemon('/nonexistent/conmon', []);
      expect(failed.stdout.toString()).toBe('');
      expect(failed.stderr.toString()).toMatch(/cannot run \/nonexistent\/conmon/);
      // and it still runs ordinary programs
      expect((await s.run('/bin/echo', ['ok'])).stdout.toString()).toBe('ok\n');
    } finally {
      s.close();
    }
  });
});

describe('SpawnServer netns mode', () => {
  it('makes a network namespace with loopback up on a file, as unshare --net + ip link set lo up do', async () => {
    const s = new SpawnServer();
    const dir = await mkdtemp(join(tmpdir(), 'berth-netns-'));
    const path = join(dir, 'ns');
    try {
      await writeFile(path, '');
      await s.netns(path, MOUNT_SYSCALLS[process.arch]!);
      const r = await s.run('/usr/bin/nsenter', [`--net=${path}`, 'ip', '-o', 'link', 'show', 'lo']);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
      const links = await s.run('/usr/bin/nsenter', [`--net=${path}`, 'ip', '-o', 'link']);
      expect(links.stdout.toString().trim().split('\n')).toHaveLength(1);
      // no such file to mount on: a clear error
      await expect(s.netns(join(dir, 'missing', 'ns'), MOUNT_SYSCALLS[process.arch]!)).rejects.toThrow(/cannot create network namespace .*missing\/ns: mount/);
    } finally {
      await s.run('/bin/umount', [path]);
      s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SpawnServer mount mode', () => {
  it('mounts an overlay with paths relative to its cwd, under the source name given', async () => {
    const numbers = MOUNT_SYSCALLS[process.arch];
    if (!numbers) throw new Error(`no mount syscall number for ${process.arch}`);
    const dir = await mkdtemp(join(tmpdir(), 'berth-spawn-mount-'));
    const s = new SpawnServer();
    const { mkdir, readFile } = await import('node:fs/promises');
    try {
      for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(join(dir, d));
      await writeFile(join(dir, 'lower', 'f'), 'from lower\n');
      const source = `berth-test-${process.pid}`;
      await s.mount(join(dir, 'merged'), source, 'overlay', 'lowerdir=lower,upperdir=upper,workdir=work', dir, numbers.mount);
      expect(await readFile(join(dir, 'merged', 'f'), 'utf8')).toBe('from lower\n');
      const line = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === join(dir, 'merged'));
      expect(line).toContain(` - overlay ${source} `);
      await expect(s.mount(join(dir, 'nowhere'), source, 'overlay', 'lowerdir=lower,upperdir=upper,workdir=work', dir, numbers.mount)).rejects.toThrow(/mount overlay on .*nowhere: mount: No such file or directory/);
    } finally {
      await runDirect('umount', ['-l', join(dir, 'merged')]).catch(() => undefined);
      s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SpawnServer umount mode', () => {
  it('unmounts as umount(8) does, lazily when asked, and names the errno when it cannot', async () => {
    const numbers = MOUNT_SYSCALLS[process.arch];
    if (!numbers) throw new Error(`no mount syscall number for ${process.arch}`);
    const dir = await mkdtemp(join(tmpdir(), 'berth-spawn-umount-'));
    const s = new SpawnServer();
    const { mkdir, open } = await import('node:fs/promises');
    const mounted = async (p: string): Promise<boolean> => (await runDirect('findmnt', ['-n', p])).code === 0;
    const target = join(dir, 'm');
    try {
      await mkdir(target);
      await runDirect('mount', ['-t', 'tmpfs', 'berth-test', target]);
      expect(await mounted(target)).toBe(true);
      expect(await s.umount(target, 0, numbers.umount2)).toBe('');
      expect(await mounted(target)).toBe(false);
      // nothing mounted there, or no such path: the kernel's words
      expect(await s.umount(target, 0, numbers.umount2)).toMatch(/Invalid argument/);
      expect(await s.umount(join(dir, 'missing'), 0, numbers.umount2)).toMatch(/No such file or directory/);
      // busy (a file open in it): refused, then detached lazily (MNT_DETACH)
      await runDirect('mount', ['-t', 'tmpfs', 'berth-test', target]);
      const held = await open(join(target, 'f'), 'w');
      try {
        expect(await s.umount(target, 0, numbers.umount2)).toMatch(/busy/);
        expect(await s.umount(target, 2, numbers.umount2)).toBe('');
        expect(await mounted(target)).toBe(false);
      } finally {
        await held.close();
      }
    } finally {
      await runDirect('umount', ['-l', target]).catch(() => undefined);
      s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
