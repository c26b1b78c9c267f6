import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Tmux, sameOutput as compareOutputs } from './support/cli.js';
import { useCliDaemon } from './support/fixture.js';

// berth against a real berthd (in this process, own root/socket/bridge), with the real
// docker CLI as the reference for output formats. Tests share one daemon and run in order.
describe('berth container commands against berthd', () => {
  const t = useCliDaemon({ busybox: 'registry' });
  const { berth, berthOk, docker, dockerOk } = t;
  const suffix = Math.random().toString(16).slice(2, 8);
  const name = (n: string): string => `${n}-${suffix}`;

  const sameOutput = (args: string[]) => compareOutputs(berth, docker, args);

  it('run --rm prints the output, returns the exit code, leaves nothing behind', async () => {
    expect(await berth(['run', '--rm', t.image, 'echo', 'hello world'])).toEqual({ code: 0, stdout: 'hello world\n', stderr: '' });
    const fail = await berth(['run', '--rm', t.image, 'sh', '-c', 'echo out; echo oops >&2; exit 3']);
    expect(fail).toEqual({ code: 3, stdout: 'out\n', stderr: 'oops\n' });
    expect((await berthOk(['ps', '-aq'])).trim()).toBe('');
  });

  it('run -i forwards piped stdin; -e, -w, -u, --entrypoint, --hostname, --label reach the container', async () => {
    expect(await berth(['run', '--rm', '-i', t.image, 'sh', '-c', 'tr a-z A-Z; echo done'], { input: 'piped text\n' })).toEqual({ code: 0, stdout: 'PIPED TEXT\ndone\n', stderr: '' });
    const out = await berthOk(['run', '--rm', '-e', 'FOO=bar', '-w', '/tmp', '-u', '65534', '--hostname', `h${suffix}`, t.image, 'sh', '-c', 'echo $FOO $(pwd) $(id -u) $(hostname)']);
    expect(out).toBe(`bar /tmp 65534 h${suffix}\n`);
    expect(await berthOk(['run', '--rm', '--entrypoint', 'echo', t.image, 'from', 'entrypoint'])).toBe('from entrypoint\n');
  });

  it('run exit codes: 127 for a missing command, 126 for a non-executable one, 125 for daemon errors', async () => {
    const missing = await berth(['run', '--rm', t.image, 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/^berth: Error response from daemon: .*not found/);
    const notExec = await berth(['run', '--rm', t.image, '/etc/passwd']);
    expect(notExec.code).toBe(126);
    const badImage = await berth(['run', '--rm', `${t.reg.registry.host}/no-such-image:${suffix}`]);
    expect(badImage.code).toBe(125);
    expect(badImage.stderr).toContain(`Unable to find image '${t.reg.registry.host}/no-such-image:${suffix}' locally`);
    expect(badImage.stderr).toMatch(/Error response from daemon: /);
    expect(badImage.stderr).not.toMatch(/\n\s+at /);
    const badFlag = await berth(['run', '--memory', 'lots', t.image]);
    expect(badFlag.code).toBe(125);
    expect((await berthOk(['ps', '-aq'])).trim()).toBe('');
  });

  it('run without a TTY proxies signals to the container; -it needs a terminal', async () => {
    const child = spawn(process.execPath, [t.bin, 'run', '--rm', t.image, 'sh', '-c', 'trap "echo got INT; exit 7" INT; sleep 30 & wait'], { env: t.berthEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // wait until the container runs, then interrupt berth as a terminal's ^C would
    for (let i = 0; i < 100; i++) {
      if ((await berthOk(['ps', '-q'])).trim() !== '') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(7);
    expect(out).toBe('got INT\n');
    const noTty = await berth(['run', '-it', '--rm', t.image, 'true']);
    expect(noTty).toEqual({ code: 1, stdout: '', stderr: 'the input device is not a TTY\n' });
  });

  it('run/create flags reach the daemon exactly as the docker CLI sends them', async () => {
    const envFile = `${t.dir}/env-${suffix}`;
    await (await import('node:fs/promises')).writeFile(envFile, '# comment\nFROM_FILE=1\n');
    const flags = [
      '-e', 'A=1', '--env-file', envFile, '-v', `vol-${suffix}:/data`, '-v', '/anon', '--mount', 'type=bind,source=/tmp,target=/hosttmp,readonly',
      '-p', '18080:80', '-p', '127.0.0.1:19090:90/udp', '-P', '--expose', '7000', '-w', '/tmp', '-u', '1000:1000', '--entrypoint', 'sh',
      '--network', 'none', '--restart', 'on-failure:3', '--memory', '64m', '--cpus', '0.5', '--pids-limit', '50', '--read-only',
      '--cap-add', 'NET_ADMIN', '--cap-drop', 'MKNOD', '--security-opt', 'no-new-privileges', '--label', 'a=b', '--hostname', 'hh',
      '--ulimit', 'nofile=1024:2048', '--ulimit', 'nproc=300', '--group-add', '10', '--group-add', 'nogroup', '--pid', 'host', '--ipc', 'host',
      '--uts', 'host', '--cpuset-cpus', '0', '--sysctl', 'net.ipv4.ip_forward=1', '--init',
      '-i', '-t', t.image, '-c', 'true',
    ];
    await berthOk(['create', '--name', name('flags-b'), ...flags]);
    await dockerOk(['create', '--name', name('flags-d'), ...flags]);
    const fields =
      '{{json .Config.Env}} {{json .Config.Cmd}} {{json .Config.Entrypoint}} {{.Config.WorkingDir}} {{.Config.User}} {{json .Config.Labels}} ' +
      '{{.Config.Hostname}} {{json .Config.ExposedPorts}} {{.Config.Tty}} {{.Config.OpenStdin}} {{.Config.AttachStdin}} {{.Config.StdinOnce}} {{json .Config.Volumes}} ' +
      '{{json .HostConfig.Binds}} {{json .HostConfig.Mounts}} {{json .HostConfig.PortBindings}} {{.HostConfig.PublishAllPorts}} {{.HostConfig.NetworkMode}} ' +
      '{{json .HostConfig.RestartPolicy}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.ReadonlyRootfs}} ' +
      '{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}} {{.HostConfig.Privileged}} {{.HostConfig.AutoRemove}} ' +
      '{{json .HostConfig.Ulimits}} {{json .HostConfig.GroupAdd}} {{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}} ' +
      '{{.HostConfig.CpusetCpus}} {{json .HostConfig.Sysctls}} {{json .HostConfig.Init}}';
    const b = await berthOk(['inspect', '-f', fields, name('flags-b')]);
    const d = await berthOk(['inspect', '-f', fields, name('flags-d')]);
    expect(b).toBe(d);
    expect(b).toContain('"FROM_FILE=1"');
    expect(b).toContain('[{"Name":"nofile","Hard":2048,"Soft":1024},{"Name":"nproc","Hard":300,"Soft":300}]');
    expect(b).toContain('{"net.ipv4.ip_forward":"1"} true');
    const bad = await berth(['create', '--ulimit', 'bogus=1', t.image]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus');
    await berthOk(['rm', '-v', name('flags-b'), name('flags-d')]);
    await berth(['volume', 'rm', `vol-${suffix}`]);
  });

  it('run -a attaches only the named streams, as docker does; --sig-proxy=false keeps signals out', async () => {
    const script = ['sh', '-c', 'echo out; echo err >&2; exit 2'];
    for (const a of [['-a', 'stdout'], ['-a', 'STDERR'], ['-a', 'stdout', '-a', 'stderr']]) {
      const b = await berth(['run', '--rm', ...a, t.image, ...script]);
      const d = await docker(['run', '--rm', ...a, t.image, ...script]);
      expect(b, a.join(' ')).toEqual(d);
    }
    const fields = '{{.Config.AttachStdin}} {{.Config.AttachStdout}} {{.Config.AttachStderr}} {{.Config.OpenStdin}} {{.Config.StdinOnce}}';
    for (const a of [['-a', 'stdin', '-i'], ['-a', 'stdout', '-i'], ['-i']]) {
      await berthOk(['create', '--name', name('att-b'), ...a, t.image, 'true']);
      await dockerOk(['create', '--name', name('att-d'), ...a, t.image, 'true']);
      expect(await berthOk(['inspect', '-f', fields, name('att-b')]), a.join(' ')).toBe(await berthOk(['inspect', '-f', fields, name('att-d')]));
      await berthOk(['rm', name('att-b'), name('att-d')]);
    }
    const conflict = await berth(['run', '-d', '-a', 'stdout', t.image, 'true']);
    expect(conflict).toMatchObject({ code: 125 });
    expect(conflict.stderr).toContain('Conflicting options: -a and -d');
    const bad = await berth(['run', '-a', 'stdfoo', t.image, 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('invalid argument "stdfoo" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR');
    // --sig-proxy=false: SIGINT stops berth only; the container runs on
    const child = spawn(process.execPath, [t.bin, 'run', '--sig-proxy=false', '--name', name('noproxy'), t.image, 'sh', '-c', 'trap "echo got INT" INT; sleep 30 & wait'], { env: t.berthEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    for (let i = 0; i < 100; i++) {
      if ((await berthOk(['ps', '-q', '--filter', `name=${name('noproxy')}`])).trim() !== '') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    await new Promise<void>((r) => child.once('exit', () => r()));
    expect((await berthOk(['inspect', '-f', '{{.State.Running}}', name('noproxy')])).trim()).toBe('true');
    await berthOk(['rm', '-f', name('noproxy')]);
  });

  it('run -d prints the full ID; ps matches the docker CLI', async () => {
    const id = (await berthOk(['run', '-d', '--name', name('web'), '-l', 'tier=web', t.image, 'sleep', '300'])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    await berthOk(['create', '--name', name('made'), t.image, 'echo', 'created']);
    await berthOk(['run', '-d', '--name', name('ported'), '-p', '127.0.0.1::80', '-p', '127.0.0.1::81/udp', '--expose', '90', t.image, 'sleep', '300']);
    for (const args of [
      ['ps', '--filter', `name=${name('ported')}`],
      ['ps', '--filter', `name=${name('ported')}`, '--format', '{{.Ports}}'],
      ['port', name('ported')],
      ['port', name('ported'), '80'],
      ['ps'],
      ['ps', '-a'],
      ['ps', '-a', '--no-trunc'],
      ['ps', '-q'],
      ['ps', '-aq'],
      ['ps', '-a', '--format', '{{.ID}} {{.Names}} {{.Image}} {{.Status}} {{.State}}'],
      ['ps', '--format', 'table {{.ID}}\t{{.Names}}\t{{.Label "tier"}}\t{{.Labels}}'],
      ['ps', '-a', '--format', '{{json .}}'],
      ['ps', '-a', '--format', 'json'],
      ['ps', '-a', '--filter', 'status=created'],
      ['ps', '-a', '--filter', `name=${name('web')}`, '--format', '{{.Names}}'],
      ['ps', '-a', '--filter', 'label=tier=web', '-q'],
    ]) {
      const { b, d } = await sameOutput(args);
      expect(b.code, args.join(' ')).toBe(0);
      expect(b.stdout, `berth ${args.join(' ')}`).toBe(d.stdout);
    }
    await berthOk(['rm', '-f', name('ported')]);
    expect(await berthOk(['ps', '--format', '{{.ID}}'])).toBe(`${id.slice(0, 12)}\n`);
  });

  it('inspect matches the docker CLI (JSON and --format)', async () => {
    for (const args of [
      ['inspect', name('web')],
      ['inspect', '--format', '{{.State.Status}} {{.Name}} {{.Config.Image}}', name('web')],
      ['inspect', '-f', '{{json .Config.Env}}', name('web')],
      ['inspect', '-f', '{{.Config.Env}}', name('web')],
      ['inspect', '-f', '{{json .Config.Labels}} {{index .Config.Labels "tier"}}', name('web')],
      ['inspect', '-f', '{{range .Config.Cmd}}[{{.}}]{{end}}', name('web')],
      ['inspect', '-f', '{{upper .State.Status}} {{len .Config.Cmd}} {{join .Config.Cmd ","}}', name('web')],
      ['container', 'inspect', name('made')],
      ['inspect', '-f', '{{.Id}}', t.image],
      ['image', 'inspect', t.image],
    ]) {
      const { b, d } = await sameOutput(args);
      expect(b.code, args.join(' ')).toBe(0);
      expect(b.stdout, `berth ${args.join(' ')}`).toBe(d.stdout);
    }
    const missing = await berth(['inspect', `nothing-${suffix}`]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('[]\n');
    expect(missing.stderr).toBe(`Error: No such object: nothing-${suffix}\n`);
  });

  it('version --format matches the docker CLI for the server part', async () => {
    for (const args of [['version', '--format', '{{.Server.Version}} {{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}}'], ['version', '--format', '{{json .Server}}']]) {
      const { b, d } = await sameOutput(args);
      expect(b.code).toBe(0);
      expect(b.stdout, `berth ${args.join(' ')}`).toBe(d.stdout);
    }
    const server = (text: string): string => text.slice(text.indexOf('\nServer:'));
    const [bv, dv] = await Promise.all([berthOk(['version']), dockerOk(['version'])]);
    expect(server(bv)).toBe(server(dv));
    const plain = await berthOk(['version']);
    expect(plain).toMatch(/^Client:\n Version:           0\.1\.0\n/);
    expect(plain).toMatch(/\nServer: /);
    expect(plain).toMatch(/\n Engine:\n  Version:          \S+\n  API version:      1\.\d+ \(minimum version 1\.\d+\)\n/);
  });

  it('logs (--tail, -t, --since), exec (-e, -w, -u), top, stats --no-stream', async () => {
    const id = (await berthOk(['run', '-d', '--name', name('logger'), t.image, 'sh', '-c', 'for i in 1 2 3; do echo line $i; done; echo err >&2; sleep 300'])).trim();
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('line 3'); i++) {
      logs = (await berthOk(['logs', name('logger')])) + '';
      await new Promise((r) => setTimeout(r, 100));
    }
    const all = await berth(['logs', name('logger')]);
    expect(all.stdout).toBe('line 1\nline 2\nline 3\n');
    expect(all.stderr).toBe('err\n');
    expect((await berth(['logs', '--tail', '1', name('logger')])).stdout + (await berth(['logs', '--tail', '1', name('logger')])).stderr).toMatch(/^(line 3\n)?err\n$|^line 3\n$/);
    expect((await berthOk(['logs', '-t', name('logger')])).split('\n')[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line 1$/);
    expect(await berthOk(['logs', '--since', '1h', name('logger')])).toBe('line 1\nline 2\nline 3\n');
    expect(await berthOk(['exec', '-e', 'X=y', '-w', '/etc', '-u', '65534', name('logger'), 'sh', '-c', 'echo $X $(pwd) $(id -u)'])).toBe('y /etc 65534\n');
    expect(await berth(['exec', name('logger'), 'sh', '-c', 'exit 4'])).toMatchObject({ code: 4 });
    expect(await berth(['exec', '-i', name('logger'), 'cat'], { input: 'via exec\n' })).toEqual({ code: 0, stdout: 'via exec\n', stderr: '' });
    const stats = await berthOk(['stats', '--no-stream', name('logger')]);
    expect(stats.split('\n')[0]).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    expect(stats).toContain(id.slice(0, 12));
    expect(await berthOk(['stats', '--no-stream', '--format', '{{.Name}}', name('logger')])).toBe(`${name('logger')}\n`);
  });

  it('logs -f follows until the container stops; attach streams a running container and returns its exit code', async () => {
    await berthOk(['run', '-d', '--name', name('follow'), t.image, 'sh', '-c', 'echo one; sleep 1; echo two; sleep 1; echo three']);
    const followed = await berth(['logs', '-f', name('follow')], { timeoutMs: 30_000 });
    expect(followed).toEqual({ code: 0, stdout: 'one\ntwo\nthree\n', stderr: '' });
    await berthOk(['run', '-d', '--name', name('att'), t.image, 'sh', '-c', 'sleep 1; echo attached-out; echo attached-err >&2; exit 6']);
    const attached = await berth(['attach', name('att')], { timeoutMs: 30_000 });
    expect(attached).toEqual({ code: 6, stdout: 'attached-out\n', stderr: 'attached-err\n' });
    const stopped = await berth(['attach', name('att')]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toBe('You cannot attach to a stopped container, start it first\n');
    await berthOk(['rm', name('follow'), name('att')]);
  });

  it('stop, start, restart, kill, wait, rename, rm -f, rm -v', async () => {
    expect(await berthOk(['stop', '-t', '1', name('web')])).toBe(`${name('web')}\n`);
    expect((await berthOk(['inspect', '-f', '{{.State.Status}}', name('web')])).trim()).toBe('exited');
    expect(await berthOk(['start', name('web')])).toBe(`${name('web')}\n`);
    expect((await berthOk(['inspect', '-f', '{{.State.Running}}', name('web')])).trim()).toBe('true');
    expect(await berthOk(['restart', '-t', '1', name('web')])).toBe(`${name('web')}\n`);
    expect(await berthOk(['kill', '-s', 'KILL', name('web')])).toBe(`${name('web')}\n`);
    expect(await berthOk(['wait', name('web')])).toBe('137\n');
    await berthOk(['rename', name('web'), name('web2')]);
    expect(await berthOk(['start', '-a', name('made')])).toBe('created\n');
    await berthOk(['create', '-i', '--name', name('cat'), t.image, 'sh', '-c', 'tr a-z A-Z; exit 4']);
    expect(await berth(['start', '-a', '-i', name('cat')], { input: 'through start\n' })).toEqual({ code: 4, stdout: 'THROUGH START\n', stderr: '' });
    await berthOk(['rm', name('cat')]);
    const rm = await berth(['rm', name('logger')]);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toMatch(/^Error response from daemon: /);
    expect(await berthOk(['rm', '-f', '-v', name('logger'), name('web2'), name('made')])).toBe(`${name('logger')}\n${name('web2')}\n${name('made')}\n`);
    const gone = await berth(['rm', `nothing-${suffix}`]);
    expect(gone).toMatchObject({ code: 1, stdout: '' });
    expect(gone.stderr).toMatch(/^Error response from daemon: No such container: nothing-/);
  });

  it('run -it: a real terminal through tmux (raw mode, resize, exit code)', async () => {
    const tm = await Tmux.start([process.execPath, t.bin, 'run', '-it', '--rm', t.image, 'sh'], t.berthEnv, { cols: 100, rows: 30 });
    try {
      await tm.waitFor((s) => /[#$] $/m.test(s));
      await tm.sendKeys('echo $((6*7))', 'Enter');
      await tm.waitFor((s) => /^42$/m.test(s));
      await tm.sendKeys('stty size', 'Enter');
      await tm.waitFor((s) => /^30 100$/m.test(s));
      await tm.resize(120, 40);
      // SIGWINCH -> POST /resize is asynchronous: ask again until the new size shows (bounded)
      let resized = false;
      for (let i = 0; i < 20 && !resized; i++) {
        await tm.sendKeys('clear; stty size', 'Enter');
        resized = await tm.waitFor((s) => /^40 120$/m.test(s), 1000).then(() => true, () => false);
      }
      expect(resized).toBe(true);
      // raw mode: ^C goes to the container's shell, not to berth
      await tm.sendKeys('sleep 100', 'Enter');
      await new Promise((r) => setTimeout(r, 300));
      await tm.sendKeys('C-c');
      await tm.sendKeys('echo after-interrupt', 'Enter');
      await tm.waitFor((s) => /^after-interrupt$/m.test(s));
      await tm.sendKeys('exit 5', 'Enter');
      expect(await tm.exitStatus()).toBe(5);
    } finally {
      await tm.kill();
    }
    expect((await berthOk(['ps', '-aq'])).trim()).toBe('');
  });

  it('run -it then Ctrl-P Ctrl-Q detaches (exit 0, container runs on); attach --detach-keys detaches again', async () => {
    const status = async () => (await berthOk(['inspect', '--format', '{{.State.Status}}', name('detachable')])).trim();
    // In a terminal: the prompt, a command's output, the detach keys, then berth's exit
    // status (nothing printed, as the docker CLI: the status follows the prompt on its line).
    const session = async (argv: string[], word: string, keys: string[]): Promise<string | undefined> => {
      const tm = await Tmux.start([process.execPath, t.bin, ...argv], t.berthEnv, { cols: 100, rows: 30 });
      try {
        // attach prints nothing: Enter until the shell's prompt shows that keys reach it (bounded)
        let live = false;
        for (let i = 0; i < 20 && !live; i++) {
          await tm.sendKeys('Enter');
          live = await tm.waitFor((sc) => /[#$] $/m.test(sc), 1000).then(() => true, () => false);
        }
        expect(live).toBe(true);
        await tm.sendKeys(`echo ${word}`, 'Enter');
        await tm.waitFor((sc) => new RegExp(`^${word}$`, 'm').test(sc));
        await tm.sendKeys(...keys);
        return /EXIT=(\d+)$/m.exec(await tm.waitFor((sc) => /EXIT=\d+$/m.test(sc)))?.[1];
      } finally {
        await tm.kill();
      }
    };
    expect(await session(['run', '-it', '--name', name('detachable'), t.image, 'sh'], 'before-detach', ['C-p', 'C-q'])).toBe('0');
    expect(await status()).toBe('running');
    expect(await session(['attach', '--detach-keys', 'ctrl-a,x', name('detachable')], 'attached-again', ['C-a', 'x'])).toBe('0');
    expect(await status()).toBe('running');
    const bad = await berth(['attach', '--detach-keys', 'ctrl-1', name('detachable')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("Unknown character: 'ctrl-1'");
    await berthOk(['rm', '-f', name('detachable')]);
  });

  it('exec -it through tmux', async () => {
    await berthOk(['run', '-d', '--name', name('box'), t.image, 'sleep', '300']);
    const tm = await Tmux.start([process.execPath, t.bin, 'exec', '-it', name('box'), 'sh'], t.berthEnv, { cols: 90, rows: 25 });
    try {
      await tm.waitFor((s) => /[#$] $/m.test(s));
      await tm.sendKeys('stty size; tty', 'Enter');
      await tm.waitFor((s) => /^25 90$/m.test(s) && /^\/dev\/pts\/\d+$/m.test(s));
      await tm.sendKeys('exit 2', 'Enter');
      expect(await tm.exitStatus()).toBe(2);
    } finally {
      await tm.kill();
    }
    await berthOk(['rm', '-f', name('box')]);
  });

  it('export and commit', async () => {
    await berthOk(['run', '--name', name('changed'), t.image, 'sh', '-c', 'echo committed > /marker']);
    const tar = await berth(['export', name('changed')]);
    expect(tar.code).toBe(0);
    expect(tar.stdout).toContain('marker');
    const id = (await berthOk(['commit', '-m', 'test', name('changed'), `committed-${suffix}:v1`])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await berthOk(['run', '--rm', `committed-${suffix}:v1`, 'cat', '/marker'])).toBe('committed\n');
    await berthOk(['rm', name('changed')]);
  });
});
