import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { buildCreateBody, EMPTY_RUN_FLAGS, parseMount, parsePublish, parseRestart, parseVolume, collectEnv, parseCpus, parseMemory } from '../src/commands/run-options.js';
import { buildProgram, runCli } from '../src/cli.js';
import { chooseHost } from '../src/client.js';
import { runStatusFor } from '../src/context.js';
import { completionScript } from '../src/completion.js';
import { parseFilters } from '../src/commands/filters.js';

function streams(): { io: { stdin: PassThrough; stdout: PassThrough; stderr: PassThrough }; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d) => (o += d));
  stderr.on('data', (d) => (e += d));
  return { io: { stdin: new PassThrough(), stdout, stderr }, out: () => o, err: () => e };
}

/** Parses argv with the real program and returns the options the action would get. */
async function parseRun(argv: string[]): Promise<{ image: string; cmd: string[]; opts: Record<string, unknown> }> {
  const s = streams();
  const program = buildProgram({ code: 0, ctx: undefined, hostFlag: () => undefined, io: s.io });
  const find = (c: Command, n: string): Command => c.commands.find((x) => x.name() === n) as Command;
  let captured: { image: string; cmd: string[]; opts: Record<string, unknown> } | undefined;
  const run = find(program, argv[0] as string);
  run.action((image: string, cmd: string[], opts: Record<string, unknown>) => {
    captured = { image, cmd, opts };
  });
  await program.parseAsync(argv, { from: 'user' });
  return captured!;
}

describe('run/create flags', () => {
  const dir = mkdtemp(join(tmpdir(), 'berth-cli-args-'));
  afterAll(async () => rm(await dir, { recursive: true, force: true }));

  it('parses docker run flags, stopping at the image', async () => {
    const r = await parseRun([
      'run', '-dit', '--rm', '-e', 'A=1', '-e', 'B=2', '-v', '/h:/c:ro', '-v', 'data:/data', '-v', '/anon',
      '-p', '8080:80', '-p', '127.0.0.1:9000:90/udp', '--name', 'web', '-w', '/tmp', '-u', '1000:1000',
      '--entrypoint', 'sh', '--network', 'host', '--restart', 'on-failure:3', '--memory', '512m', '--cpus', '1.5',
      '--pids-limit', '100', '--read-only', '--cap-add', 'NET_ADMIN', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
      '--label', 'a=b', '--hostname', 'h1', '--privileged', '--mount', 'type=bind,source=/src,target=/dst,readonly',
      'busybox', 'ls', '-l', '--rm',
    ]);
    expect(r.image).toBe('busybox');
    expect(r.cmd).toEqual(['ls', '-l', '--rm']);
    const body = buildCreateBody({ ...EMPTY_RUN_FLAGS, ...(r.opts as object) } as never, r.image, r.cmd, {});
    expect(body).toMatchObject({
      Hostname: 'h1',
      User: '1000:1000',
      AttachStdin: false,
      AttachStdout: false,
      Tty: true,
      OpenStdin: true,
      Env: ['A=1', 'B=2'],
      Cmd: ['ls', '-l', '--rm'],
      Image: 'busybox',
      Volumes: { '/anon': {} },
      WorkingDir: '/tmp',
      Entrypoint: ['sh'],
      Labels: { a: 'b' },
      ExposedPorts: { '80/tcp': {}, '90/udp': {} },
    });
    expect(body.HostConfig).toMatchObject({
      Binds: ['/h:/c:ro', 'data:/data'],
      NetworkMode: 'host',
      PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }], '90/udp': [{ HostIp: '127.0.0.1', HostPort: '9000' }] },
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
      AutoRemove: true,
      Memory: 512 * 1024 * 1024,
      NanoCpus: 1_500_000_000,
      PidsLimit: 100,
      ReadonlyRootfs: true,
      CapAdd: ['CAP_NET_ADMIN'],
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Privileged: true,
      Mounts: [{ Type: 'bind', Source: '/src', Target: '/dst', ReadOnly: true }],
    });
  });

  it('attached -i run attaches stdin once', async () => {
    const r = await parseRun(['run', '-i', 'busybox']);
    const body = buildCreateBody({ ...EMPTY_RUN_FLAGS, ...(r.opts as object) } as never, r.image, r.cmd, {});
    expect(body).toMatchObject({ AttachStdin: true, AttachStdout: true, AttachStderr: true, OpenStdin: true, StdinOnce: true, Tty: false, Cmd: null });
    expect(body.HostConfig?.RestartPolicy).toEqual({ Name: 'no', MaximumRetryCount: 0 });
  });

  it('create takes the same flags', async () => {
    const r = await parseRun(['create', '--name', 'x', '-P', '--expose', '80', 'busybox', 'true']);
    const body = buildCreateBody({ ...EMPTY_RUN_FLAGS, ...(r.opts as object) } as never, r.image, r.cmd, {});
    expect(body.HostConfig?.PublishAllPorts).toBe(true);
    expect(body.ExposedPorts).toEqual({ '80/tcp': {} });
  });

  it('env files and inherited variables', async () => {
    const file = join(await dir, 'env');
    await writeFile(file, '# comment\nX=1\n\nFROM_HOST\nMISSING\n');
    expect(collectEnv(['Y=2', 'HOME_VAR'], [file], { FROM_HOST: 'h', HOME_VAR: 'v' })).toEqual(['X=1', 'FROM_HOST=h', 'Y=2', 'HOME_VAR=v']);
    const missing = join(await dir, 'nope');
    expect(() => collectEnv([], [missing], {})).toThrow(/no such file or directory/);
  });

  it('ports, volumes, mounts, restart, limits', () => {
    expect(parsePublish('80')).toEqual([{ port: '80/tcp', binding: { HostIp: '', HostPort: '' } }]);
    expect(parsePublish('8000-8001:80-81')).toEqual([
      { port: '80/tcp', binding: { HostIp: '', HostPort: '8000' } },
      { port: '81/tcp', binding: { HostIp: '', HostPort: '8001' } },
    ]);
    expect(parsePublish('[::1]:53:53/udp')).toEqual([{ port: '53/udp', binding: { HostIp: '::1', HostPort: '53' } }]);
    expect(() => parsePublish('a:b')).toThrow(/invalid containerPort/);
    expect(parseVolume('vol:/data:ro')).toEqual({ anonymous: false, target: '/data', spec: 'vol:/data:ro' });
    expect(() => parseVolume('rel')).toThrow(/must be absolute/);
    expect(parseMount('type=volume,src=v,dst=/d,volume-nocopy')).toEqual({ Type: 'volume', Source: 'v', Target: '/d', VolumeOptions: { NoCopy: true } });
    expect(parseMount('type=tmpfs,target=/t,tmpfs-size=1m')).toEqual({ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576 } });
    expect(() => parseMount('type=bind,bogus=1,target=/x')).toThrow(/unexpected key/);
    expect(parseRestart('always')).toEqual({ Name: 'always', MaximumRetryCount: 0 });
    expect(() => parseRestart('sometimes')).toThrow(/invalid restart policy/);
    expect(() => parseRestart('always:3')).toThrow(/maximum retry count/);
    expect(parseCpus('0.5')).toBe(500_000_000);
    expect(() => parseCpus('x')).toThrow(/--cpus/);
    expect(() => parseMemory('lots')).toThrow(/--memory/);
  });
});

describe('global behaviour', () => {
  it('host choice: -H, then BERTH_HOST, never DOCKER_HOST', () => {
    expect(chooseHost('unix:///x.sock', { BERTH_HOST: 'tcp://1.2.3.4:1' })).toEqual({ host: 'unix:///x.sock', explicit: true });
    expect(chooseHost(undefined, { BERTH_HOST: 'tcp://127.0.0.1:1' })).toEqual({ host: 'tcp://127.0.0.1:1', explicit: true });
    expect(chooseHost(undefined, { DOCKER_HOST: 'tcp://127.0.0.1:1' })).toEqual({ host: 'unix:///run/berth/berthd.sock', explicit: false });
    expect(chooseHost(undefined, { BERTH_RUN: '/tmp/x/run' })).toEqual({ host: 'unix:///tmp/x/run/berthd.sock', explicit: false });
    // Windows: the named pipe berthd listens on there
    expect(chooseHost(undefined, {}, 'win32')).toEqual({ host: 'npipe:////./pipe/berth_engine', explicit: false });
    expect(chooseHost(undefined, { BERTH_RUN: 'C:\\x' }, 'win32')).toEqual({ host: 'npipe:////./pipe/berth_engine', explicit: false });
    expect(chooseHost(undefined, { BERTH_HOST: 'tcp://127.0.0.1:1' }, 'win32')).toEqual({ host: 'tcp://127.0.0.1:1', explicit: true });
    expect(chooseHost(undefined, {}, 'linux')).toEqual({ host: 'unix:///run/berth/berthd.sock', explicit: false });
  });

  it('flag errors exit 125, help and version exit 0', async () => {
    const s = streams();
    expect(await runCli(['run', '--bogus', 'busybox'], s.io)).toBe(125);
    expect(s.err()).toMatch(/unknown option '--bogus'/);
    const h = streams();
    expect(await runCli(['ps', '--help'], h.io)).toBe(0);
    expect(h.out()).toMatch(/--no-trunc/);
    const v = streams();
    expect(await runCli(['--version'], v.io)).toBe(0);
    expect(v.out()).toMatch(/^Berth version 0\.1\.0, build \w+/);
  });

  it('an unreachable explicit host is an error, not a daemon start', async () => {
    const s = streams();
    expect(await runCli(['-H', 'unix:///nonexistent/berth-test.sock', 'ps'], s.io)).toBe(1);
    expect(s.err()).toBe('Cannot connect to the Berth daemon at unix:///nonexistent/berth-test.sock. Is berthd running?\n');
  });

  it('docker run exit status for start errors', () => {
    const daemon = (m: string): Error => Object.assign(new Error(m), { statusCode: 500 });
    expect(runStatusFor(daemon('exec: "nope": executable file not found in $PATH'))).toBe(127);
    expect(runStatusFor(daemon('exec /etc/passwd: permission denied'))).toBe(126);
    expect(runStatusFor(daemon('something else'))).toBe(125);
  });

  it('filters parse like docker', () => {
    expect(parseFilters(['status=exited', 'label=a=b', 'status=created'])).toEqual({ status: ['exited', 'created'], label: ['a=b'] });
    expect(() => parseFilters(['bad'])).toThrow(/bad format of filter/);
  });

  it('completion scripts for bash and zsh list commands and flags', async () => {
    const s = streams();
    const program = buildProgram({ code: 0, ctx: undefined, hostFlag: () => undefined, io: s.io });
    const b = completionScript('bash', program);
    expect(b).toContain('complete -F _berth_complete berth');
    expect(b).toMatch(/"run"\) words="[^"]*--rm/);
    expect(b).toMatch(/"volume"\) words="create ls list rm/);
    const z = completionScript('zsh', program);
    expect(z.startsWith('#compdef berth')).toBe(true);
    expect(() => completionScript('fish', program)).toThrow(/unsupported shell/);
    expect(await runCli(['completion', 'bash'], s.io)).toBe(0);
    expect(s.out()).toContain('_berth_complete');
  });

  it('the bash completion script completes commands, subcommands and flags in a real bash', async () => {
    const s = streams();
    expect(await runCli(['completion', 'bash'], s.io)).toBe(0);
    const file = join(await mkdtemp(join(tmpdir(), 'berth-cli-completion-')), 'berth.bash');
    await writeFile(file, s.out());
    const complete = async (words: string[]): Promise<string[]> => {
      const script = `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _berth_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const { stdout } = await promisify(execFile)('bash', ['-c', script], { env: { PATH: '/usr/bin:/bin', BERTH_HOST: 'unix:///nonexistent/berth.sock' } });
      return stdout.split('\n').filter(Boolean).sort();
    };
    try {
      expect(await complete(['berth', 'vol'])).toEqual(['volume']);
      expect(await complete(['berth', 'volume', 'c'])).toEqual(['create']);
      expect(await complete(['berth', 'run', '--r'])).toEqual(['--read-only', '--restart', '--rm']);
      expect(await complete(['berth', 'network', 'ls', '--no'])).toEqual(['--no-trunc']);
    } finally {
      await rm(dirname(file), { recursive: true, force: true });
    }
  });
});
