import { execFile } from 'node:child_process';
import { mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tmux, type CliResult } from './support/cli.js';
import { useCliDaemon } from './support/fixture.js';

// `berth cp` against a real berthd, with the real docker CLI (28.2) copying the same
// things against the same daemon as the reference: results, output and exit codes.
describe('berth cp', () => {
  const t = useCliDaemon({ busybox: 'builtin' });
  const { berth, berthOk, docker } = t;
  let src: string;
  let out: string;
  const suffix = Math.random().toString(16).slice(2, 8);
  const name = (n: string): string => `${n}-${suffix}`;
  const ctr = name('cp');
  const cat = async (path: string, c = ctr): Promise<string> => berthOk(['exec', c, 'cat', path]);
  const tarOf = (dir: string, ...names: string[]): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      execFile('tar', ['-C', dir, '-cf', '-', ...names], { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, o) => (err ? reject(err) : resolve(o))),
    );
  /** docker's message with berth's name, for comparing the two CLIs' output. */
  const asBerth = (r: CliResult): CliResult => ({
    ...r,
    // (docker also logs its own tar goroutine's broken pipe when it gives up early)
    stderr: r.stderr.replace(/^time=.* level=error .*\n/gm, '').replace(/docker/g, 'berth'),
  });

  beforeAll(async () => {
    src = join(t.dir, 'src');
    out = join(t.dir, 'out');
    await mkdir(join(src, 'dir', 'sub'), { recursive: true });
    await mkdir(out);
    await writeFile(join(src, 'file.txt'), 'a file\n');
    await writeFile(join(src, 'dir', 'top.txt'), 'top\n');
    await writeFile(join(src, 'dir', 'sub', 'deep.txt'), 'deep\n');
    await symlink('top.txt', join(src, 'dir', 'link'));
    await symlink('file.txt', join(src, 'file-link'));
    // big enough that the CLI still sends when berthd answers an error (the upload race)
    await mkdir(join(src, 'big'));
    await writeFile(join(src, 'big', 'blob'), Buffer.alloc(16 << 20, 0x62));
    await berthOk(['run', '-d', '--name', ctr, '--network', 'none', 'busybox', 'sleep', '300']);
    await berthOk(['exec', ctr, 'mkdir', '-p', '/b', '/d']);
  }, 180_000);

  /** The same copy by both CLIs (into /b for berth, /d for docker): same exit code and output. */
  const both = async (from: string, to: (root: string) => string, input?: Buffer): Promise<CliResult> => {
    const b = await berth(['cp', from, to('/b')], input ? { input } : {});
    const d = await docker(['cp', from, to('/d')], input ? { input } : {});
    expect(b).toEqual(asBerth({ ...d, stderr: d.stderr.replaceAll(`${ctr}:/d`, `${ctr}:/b`).replaceAll('"/d', '"/b') }));
    return b;
  };

  it('host -> container: file into a directory, to a new name, over a file; directory, dir/., to a new name; stdin', async () => {
    expect(await both(join(src, 'file.txt'), (r) => `${ctr}:${r}/`)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await cat('/b/file.txt')).toBe('a file\n');
    await both(join(src, 'file.txt'), (r) => `${ctr}:${r}/renamed.txt`);
    expect(await cat('/b/renamed.txt')).toBe('a file\n');
    await both(join(src, 'dir', 'top.txt'), (r) => `${ctr}:${r}/renamed.txt`);
    expect(await cat('/b/renamed.txt')).toBe('top\n');
    await both(join(src, 'dir'), (r) => `${ctr}:${r}`);
    expect(await cat('/b/dir/sub/deep.txt')).toBe('deep\n');
    expect((await berthOk(['exec', ctr, 'readlink', '/b/dir/link'])).trim()).toBe('top.txt');
    await berthOk(['exec', ctr, 'mkdir', '/b/into', '/d/into']);
    await both(`${join(src, 'dir')}/.`, (r) => `${ctr}:${r}/into`);
    expect(await cat('/b/into/top.txt')).toBe('top\n');
    await both(join(src, 'dir'), (r) => `${ctr}:${r}/newname`);
    expect(await cat('/b/newname/sub/deep.txt')).toBe('deep\n');
    await both(`${join(src, 'dir')}/.`, (r) => `${ctr}:${r}/contents-new`);
    expect(await cat('/b/contents-new/top.txt')).toBe('top\n');
    // a link is copied as a link; -L copies its target
    await berthOk(['cp', join(src, 'file-link'), `${ctr}:/b/`]);
    expect((await berthOk(['exec', ctr, 'readlink', '/b/file-link'])).trim()).toBe('file.txt');
    await berthOk(['cp', '-L', join(src, 'file-link'), `${ctr}:/b/followed`]);
    expect(await cat('/b/followed')).toBe('a file\n');
    await berthOk(['exec', ctr, 'mkdir', '/b/stdin', '/d/stdin']);
    await both('-', (r) => `${ctr}:${r}/stdin`, await tarOf(src, 'file.txt', 'dir'));
    expect(await cat('/b/stdin/dir/top.txt')).toBe('top\n');
  });

  it('container -> host: file, to a new name, directory, dir/., -L, tar on stdout', async () => {
    const b = join(out, 'b');
    const d = join(out, 'd');
    await mkdir(b);
    await mkdir(d);
    const pair = async (from: string, to: (root: string) => string): Promise<void> => {
      const rb = await berth(['cp', from, to(b)]);
      const rd = await docker(['cp', from, to(d)]);
      expect(rb).toEqual(asBerth({ ...rd, stderr: rd.stderr.replaceAll(d, b) }));
    };
    await pair(`${ctr}:/b/file.txt`, (r) => r);
    expect(await readFile(join(b, 'file.txt'), 'utf8')).toBe('a file\n');
    await pair(`${ctr}:/b/file.txt`, (r) => join(r, 'copy.txt'));
    expect(await readFile(join(b, 'copy.txt'), 'utf8')).toBe('a file\n');
    await pair(`${ctr}:/b/dir`, (r) => r);
    expect(await readFile(join(b, 'dir', 'sub', 'deep.txt'), 'utf8')).toBe('deep\n');
    expect(await readlink(join(b, 'dir', 'link'))).toBe('top.txt');
    await pair(`${ctr}:/b/dir`, (r) => join(r, 'dir-renamed'));
    expect(await readFile(join(b, 'dir-renamed', 'top.txt'), 'utf8')).toBe('top\n');
    await pair(`${ctr}:/b/dir/.`, (r) => join(r, 'contents'));
    expect(await readFile(join(b, 'contents', 'top.txt'), 'utf8')).toBe('top\n');
    await pair(`${ctr}:/b/dir/link`, (r) => join(r, 'as-link'));
    expect(await readlink(join(b, 'as-link'))).toBe('top.txt');
    const lb = await berth(['cp', '-L', `${ctr}:/b/dir/link`, join(b, 'followed')]);
    const ld = await docker(['cp', '-L', `${ctr}:/b/dir/link`, join(d, 'followed')]);
    expect(lb).toEqual(ld);
    expect(await readFile(join(b, 'followed'), 'utf8')).toBe('top\n');
    expect((await stat(join(b, 'followed'))).isFile()).toBe(true);
    // over an existing file: replaced; a directory onto it: refused by the rules
    await pair(`${ctr}:/b/renamed.txt`, (r) => join(r, 'copy.txt'));
    expect(await readFile(join(b, 'copy.txt'), 'utf8')).toBe('top\n');
    const tb = await berth(['cp', `${ctr}:/b/file.txt`, '-']);
    const td = await docker(['cp', `${ctr}:/b/file.txt`, '-']);
    expect(tb.code).toBe(0);
    expect(tb.stdout).toBe(td.stdout);
    expect(tb.stdout.slice(0, 8)).toBe('file.txt');
  });

  it('on a terminal: the "Successfully copied" line as docker prints it', async () => {
    const screens: string[] = [];
    for (const [cmd, env, to] of [
      [[process.execPath, t.bin], t.berthEnv, '/b/tty.txt'],
      [['docker'], t.dockerEnv, '/d/tty.txt'],
      [[process.execPath, t.bin], t.berthEnv, '/b/tty-dir'],
      [['docker'], t.dockerEnv, '/d/tty-dir'],
    ] as const) {
      const from = to.endsWith('dir') ? join(src, 'dir') : join(src, 'file.txt');
      const tmux = await Tmux.start([...cmd, 'cp', from, `${ctr}:${to}`], env);
      try {
        expect(await tmux.exitStatus()).toBe(0);
        screens.push((await tmux.capture()).trim());
      } finally {
        await tmux.kill();
      }
    }
    expect(screens[0]).toBe(screens[1]!.replaceAll(`${ctr}:/d/`, `${ctr}:/b/`));
    expect(screens[2]).toBe(screens[3]!.replaceAll(`${ctr}:/d/`, `${ctr}:/b/`));
    expect(screens[0]).toMatch(/^Successfully copied \S+B to /);
    // out of the container: docker 28 counts the tar's bytes (a file's 7 bytes come in 10.2kB)
    const outScreens: string[] = [];
    for (const what of ['file.txt', 'dir']) {
      for (const [cmd, env, sub] of [
        [[process.execPath, t.bin], t.berthEnv, 'tty-b'],
        [['docker'], t.dockerEnv, 'tty-d'],
      ] as const) {
        await mkdir(join(out, `${sub}-${what}`));
        const tmux = await Tmux.start([...cmd, 'cp', `${ctr}:/b/${what}`, join(out, `${sub}-${what}`)], env);
        try {
          expect(await tmux.exitStatus()).toBe(0);
          outScreens.push((await tmux.capture()).trim().replaceAll('tty-d', 'tty-b'));
        } finally {
          await tmux.kill();
        }
      }
    }
    expect(outScreens[0]).toBe(outScreens[1]);
    expect(outScreens[2]).toBe(outScreens[3]);
    expect(outScreens[0]).toMatch(/^Successfully copied 10.2kB to \//);
  });

  it('errors: same messages and exit codes as docker cp', async () => {
    const cases: string[][] = [
      ['cp', join(src, 'file.txt'), `${ctr}:/nope/x`],
      ['cp', join(src, 'big'), `${ctr}:/nope/x`],
      ['cp', join(src, 'big'), `${ctr}:/b/file.txt`],
      ['cp', join(src, 'file.txt'), `${ctr}:/missing-dir/`],
      ['cp', join(src, 'dir'), `${ctr}:/b/file.txt`],
      ['cp', '-', `${ctr}:/b/file.txt`],
      ['cp', join(src, 'nope'), `${ctr}:/b/`],
      ['cp', `${ctr}:/nope`, out],
      ['cp', `${ctr}:/b/dir`, join(out, 'b', 'copy.txt')],
      ['cp', `${ctr}:/b/file.txt`, join(out, 'no', 'such', 'dir')],
      ['cp', `nosuch-${suffix}:/x`, out],
      ['cp', `${ctr}:/x`, `${ctr}:/y`],
      ['cp', 'a', 'b'],
      ['cp', '', `${ctr}:/b`],
      ['cp', `${ctr}:/b`, ''],
      ['cp', 'only-one'],
    ];
    for (const args of cases) {
      const b = await berth(args, { input: Buffer.alloc(0) });
      const d = await docker(args, { input: Buffer.alloc(0) });
      expect({ args, ...b }).toEqual({ args, ...asBerth(d) });
      expect(b.code).toBe(1);
    }
  });

  it('a read-only rootfs refuses; a stopped container and its volume take copies; -a gives the container user', async () => {
    const ro = name('ro');
    await berthOk(['run', '-d', '--read-only', '--name', ro, '--network', 'none', 'busybox', 'sleep', '300']);
    const args = ['cp', join(src, 'file.txt'), `${ro}:/tmp/`];
    const b = await berth(args);
    expect(b).toEqual(asBerth(await docker(args)));
    expect(b.stderr).toBe('Error response from daemon: container rootfs is marked read-only\n');
    const stopped = name('stopped');
    const vol = name('vol');
    await berthOk(['create', '--name', stopped, '--network', 'none', '-u', '1234:5678', '-v', `${vol}:/data`, 'busybox', 'sleep', '300']);
    await berthOk(['cp', join(src, 'dir'), `${stopped}:/data/`]);
    await berthOk(['cp', '-a', join(src, 'file.txt'), `${stopped}:/tmp/owned.txt`]);
    await berthOk(['start', stopped]);
    expect(await cat('/data/dir/top.txt', stopped)).toBe('top\n');
    expect((await berthOk(['exec', stopped, 'stat', '-c', '%u:%g', '/tmp/owned.txt'])).trim()).toBe('1234:5678');
    await berthOk(['rm', '-f', '-v', stopped, ro]);
    await berthOk(['volume', 'rm', vol]);
  });
});
