import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHtpasswd, startRegistry } from '@berth/fixtures';
import { Tmux, sameOutput as compareOutputs } from './support/cli.js';
import { useCliDaemon } from './support/fixture.js';
import { screen } from './support/screen.js';

// Images, volumes, networks and system commands of berth against a real berthd and a
// real registry; the docker CLI against the same daemon is the reference output.
describe('berth image, volume, network and system commands against berthd', () => {
  const t = useCliDaemon({ registry: true });
  const { berth, berthOk, docker, dockerOk } = t;
  let work: string;
  const suffix = Math.random().toString(16).slice(2, 8);
  const name = (n: string): string => `${n}-${suffix}`;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-cli-images-'));
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  const sameOutput = (args: string[]) => compareOutputs(berth, docker, args);

  it('pull without a terminal prints plain lines, exactly what the docker CLI prints', async () => {
    const b = await berth(['pull', t.reg.busybox], { timeoutMs: 120_000 });
    expect(b.code).toBe(0);
    expect(b.stderr).toBe('');
    expect(b.stdout).toMatch(/^latest: Pulling from \S*busybox\n/);
    expect(b.stdout).toMatch(/\n[0-9a-f]{12}: Pull complete\n/);
    expect(b.stdout).toMatch(/\nDigest: sha256:[0-9a-f]{64}\n/);
    expect(b.stdout).toContain(`\nStatus: Downloaded newer image for ${t.reg.busybox}\n${t.reg.busybox}\n`);
    expect(b.stdout).not.toContain('\x1b[');
    await berthOk(['rmi', t.reg.busybox]);
    const d = await docker(['pull', t.reg.busybox], { timeoutMs: 120_000 });
    expect(d.code).toBe(0);
    expect(b.stdout).toBe(d.stdout);
    const again = await berthOk(['pull', t.reg.busybox]);
    expect(again).toContain(`Status: Image is up to date for ${t.reg.busybox}`);
  });

  it('pull on a terminal redraws one line per layer in place (tmux)', async () => {
    await berthOk(['rmi', t.reg.busybox]);
    const tm = await Tmux.start([process.execPath, t.bin, 'pull', t.reg.busybox], t.berthEnv, { cols: 150, rows: 20 });
    try {
      const status = await tm.exitStatus(60_000);
      expect(status).toBe(0);
      const lines = (await tm.capture()).split('\n').map((l) => l.trimEnd()).filter(Boolean);
      expect(lines[0]).toMatch(/^latest: Pulling from \S*busybox$/);
      // each layer ends on one line that says it is complete, no leftover progress lines
      expect(lines.filter((l) => /^[0-9a-f]{12}: /.test(l)).every((l) => /: Pull complete$/.test(l))).toBe(true);
      expect(lines.some((l) => /^Digest: sha256:[0-9a-f]{64}$/.test(l))).toBe(true);
      expect(lines).toContain(`Status: Downloaded newer image for ${t.reg.busybox}`);
    } finally {
      await tm.kill();
    }
  });

  it('pull progress escape sequences when stdout is a terminal (captured raw through tmux pipe-pane)', async () => {
    await berthOk(['rmi', t.reg.busybox]);
    const raw = join(work, 'pull.raw');
    const tm = await Tmux.start(['sh', '-c', 'sleep 0.5; exec "$@"', 'sh', process.execPath, t.bin, 'pull', t.reg.busybox], t.berthEnv, { cols: 150, rows: 20 });
    try {
      await tm.tmux(['pipe-pane', '-t', tm.name, '-o', `cat > ${raw}`]);
      expect(await tm.exitStatus(60_000)).toBe(0);
    } finally {
      await tm.kill();
    }
    const text = await readFile(raw, 'utf8');
    expect(text).toMatch(/\x1b\[2K\r[0-9a-f]{12}: Pull complete/);
    expect(text).toMatch(/\x1b\[\d+A/);
    const finalLines = screen(text.replace(/\r\n/g, '\n').replace(/EXIT=\d+/, ''));
    expect(finalLines).toContain(`Status: Downloaded newer image for ${t.reg.busybox}`);
  });

  it('images matches the docker CLI (table, -q, --no-trunc, --format, json, filter)', async () => {
    await berthOk(['tag', t.reg.busybox, `tagged-${suffix}:v1`]);
    await berthOk(['tag', t.reg.busybox, `${t.reg.registry.host}/other-${suffix}:v2`]);
    for (const args of [
      ['images'],
      ['images', '-q'],
      ['images', '--no-trunc'],
      ['images', '--digests'],
      ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}'],
      ['images', '--format', 'table {{.Repository}}\t{{.Tag}}\t{{.Size}}'],
      ['images', '--format', '{{json .}}'],
      ['images', '--format', 'json'],
      ['images', `tagged-${suffix}`],
      ['images', '--filter', `reference=tagged-${suffix}:*`],
      ['image', 'ls', '-a'],
      ['history', t.reg.busybox],
      ['history', '--no-trunc', '--format', '{{.ID}} {{.CreatedBy}} {{.Size}}', t.reg.busybox],
    ]) {
      const { b, d } = await sameOutput(args);
      expect(b.code, args.join(' ')).toBe(0);
      expect(b.stdout, `berth ${args.join(' ')}`).toBe(d.stdout);
    }
  });

  it('push draws docker-style progress; rmi prints what it untagged', async () => {
    const target = `${t.reg.registry.host}/pushed-${suffix}:v1`;
    await berthOk(['tag', t.reg.busybox, target]);
    const out = await berthOk(['push', target], { timeoutMs: 120_000 });
    expect(out).toMatch(new RegExp(`^The push refers to repository \\[${t.reg.registry.host}/pushed-${suffix}\\]\n`));
    expect(out).toMatch(/\n[0-9a-f]{12}: Pushed\n/);
    expect(out).toMatch(/\nv1: digest: sha256:[0-9a-f]{64} size: \d+\n$/);
    expect(await berthOk(['rmi', target])).toBe(`Untagged: ${target}\n`);
    const pulled = await berthOk(['pull', '-q', target]);
    expect(pulled).toBe(`${target}\n`);
    const missing = await berth(['rmi', `nothing-${suffix}`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error response from daemon: No such image: nothing-/);
  });

  it('save -o, load -i, save to a pipe, import, export round trips', async () => {
    const tarPath = join(work, 'img.tar');
    await berthOk(['save', '-o', tarPath, `tagged-${suffix}:v1`]);
    expect((await stat(tarPath)).size).toBeGreaterThan(100_000);
    await berthOk(['rmi', `tagged-${suffix}:v1`]);
    const loaded = await berthOk(['load', '-i', tarPath]);
    expect(loaded).toContain(`Loaded image: tagged-${suffix}:v1`);
    const piped = await berth(['save', `tagged-${suffix}:v1`]);
    expect(piped.code).toBe(0);
    expect(Buffer.byteLength(piped.stdout, 'latin1')).toBeGreaterThan(1000);
    const viaStdin = await berthOk(['load'], { input: await readFile(tarPath) });
    expect(viaStdin).toContain(`Loaded image: tagged-${suffix}:v1`);

    await berthOk(['create', '--name', name('src'), t.reg.busybox]);
    const rootfs = join(work, 'rootfs.tar');
    await berthOk(['export', '-o', rootfs, name('src')]);
    const id = (await berthOk(['import', '-c', 'CMD ["echo", "imported"]', rootfs, `imported-${suffix}:v1`])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await berthOk(['run', '--rm', `imported-${suffix}:v1`])).toBe('imported\n');
    await berthOk(['rm', name('src')]);
  });

  it('volume create/ls/inspect/rm/prune, matching the docker CLI', async () => {
    expect(await berthOk(['volume', 'create', '--label', 'k=v', name('vol')])).toBe(`${name('vol')}\n`);
    expect(await berthOk(['volume', 'create', name('spare')])).toBe(`${name('spare')}\n`);
    await berthOk(['run', '--rm', '-v', `${name('vol')}:/data`, t.reg.busybox, 'sh', '-c', 'echo kept > /data/f']);
    expect(await berthOk(['run', '--rm', '--mount', `type=volume,source=${name('vol')},target=/d,readonly`, t.reg.busybox, 'cat', '/d/f'])).toBe('kept\n');
    for (const args of [
      ['volume', 'ls'],
      ['volume', 'ls', '-q'],
      ['volume', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Labels}}'],
      ['volume', 'ls', '--filter', 'label=k=v'],
      ['volume', 'inspect', name('vol')],
      ['volume', 'inspect', '-f', '{{.Name}} {{.Mountpoint}}', name('vol')],
    ]) {
      const { b, d } = await sameOutput(args);
      expect(b.code, args.join(' ')).toBe(0);
      expect(b.stdout, `berth ${args.join(' ')}`).toBe(d.stdout);
    }
    expect(await berthOk(['volume', 'rm', name('vol')])).toBe(`${name('vol')}\n`);
    const pruned = await berthOk(['volume', 'prune', '-a', '-f']);
    expect(pruned).toContain(name('spare'));
    expect(pruned).toMatch(/Total reclaimed space: \S+\n$/);
  });

  it('network create/ls/inspect/connect/disconnect/rm/prune, matching the docker CLI', async () => {
    const n = Math.floor(Math.random() * 200) + 20;
    const id = (await berthOk(['network', 'create', '--subnet', `10.${n}.77.0/24`, '--label', 'k=v', name('net')])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    for (const args of [
      ['network', 'ls'],
      ['network', 'ls', '-q'],
      ['network', 'ls', '--no-trunc'],
      ['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}'],
      ['network', 'ls', '--filter', `name=${name('net')}`],
      ['network', 'inspect', name('net')],
      ['network', 'inspect', '-f', '{{.Name}} {{range .IPAM.Config}}{{.Subnet}}{{end}}', name('net')],
    ]) {
      const { b, d } = await sameOutput(args);
      expect(b.code, args.join(' ')).toBe(0);
      expect(b.stdout, `berth ${args.join(' ')}`).toBe(d.stdout);
    }
    // berthd connects containers that are not running yet
    await berthOk(['create', '--name', name('c'), t.reg.busybox, 'sleep', '300']);
    await berthOk(['network', 'connect', name('net'), name('c')]);
    await berthOk(['start', name('c')]);
    expect(await berthOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${name('net')}").IPAddress}}`, name('c')])).toMatch(new RegExp(`^10\\.${n}\\.77\\.\\d+\\n$`));
    await berthOk(['stop', '-t', '0', name('c')]);
    await berthOk(['network', 'disconnect', name('net'), name('c')]);
    await berthOk(['rm', '-f', name('c')]);
    expect(await berthOk(['network', 'rm', name('net')])).toBe(`${name('net')}\n`);
    await berthOk(['network', 'create', name('unused')]);
    expect(await berthOk(['network', 'prune', '-f'])).toContain(name('unused'));
  });

  it('info, system df, events, system prune', async () => {
    const info = await berthOk(['info']);
    expect(info).toMatch(/\n Containers: \d+\n/);
    expect(info).toMatch(/\n Storage Driver: \S+/);
    const { b, d } = await sameOutput(['info', '--format', '{{.Containers}} {{.Images}} {{.Driver}} {{json .RegistryConfig.InsecureRegistryCIDRs}}']);
    expect(b.stdout).toBe(d.stdout);
    const dfCompare = await sameOutput(['system', 'df']);
    expect(dfCompare.b.stdout).toBe(dfCompare.d.stdout);
    const df = await berthOk(['system', 'df']);
    expect(df.split('\n')[0]).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    expect(df).toMatch(/\nImages\s+\d+\s+\d+\s+\S+\s+\S+/);
    const since = Math.floor(Date.now() / 1000) - 1;
    await berthOk(['run', '--rm', '--name', name('ev'), t.reg.busybox, 'true']);
    const until = Math.floor(Date.now() / 1000) + 1;
    const events = await berthOk(['events', '--since', String(since), '--until', String(until), '--filter', `container=${name('ev')}`]);
    expect(events).toMatch(/ container create [0-9a-f]{64} \(/);
    expect(events).toMatch(/ container start [0-9a-f]{64} \(/);
    expect(events).toMatch(/ container die [0-9a-f]{64} \(.*exitCode=0/);
    const evArgs = ['events', '--since', String(since), '--until', String(until), '--filter', `container=${name('ev')}`];
    expect(events).toBe(await dockerOk(evArgs));
    const json = await berthOk(['events', '--since', String(since), '--until', String(until), '--filter', `container=${name('ev')}`, '--format', '{{.Type}} {{.Action}}']);
    expect(json).toMatch(/^container create\n/m);
    await berthOk(['create', '--name', name('stopped'), t.reg.busybox]);
    const pruned = await berthOk(['system', 'prune', '-f']);
    expect(pruned).toMatch(/Deleted Containers:\n[0-9a-f]{64}\n/);
    expect(pruned).toMatch(/Total reclaimed space: /);
  });

  it('login to an htpasswd registry, push and pull with the stored credentials, logout', async () => {
    const htpasswd = await makeHtpasswd(join(work, 'htpasswd'), 'alice', 's3cret');
    const secured = await startRegistry({ htpasswdPath: htpasswd });
    try {
      const target = `${secured.host}/private-${suffix}:v1`;
      await berthOk(['pull', '-q', t.reg.busybox]);
      await berthOk(['tag', t.reg.busybox, target]);
      const denied = await berth(['push', target]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/unauthorized|authentication required|no basic auth credentials/i);
      const bad = await berth(['login', '-u', 'alice', '--password-stdin', secured.host], { input: 'wrong\n' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^Error response from daemon: /);
      expect(await berthOk(['login', '-u', 'alice', '--password-stdin', secured.host], { input: 's3cret\n' })).toBe('Login Succeeded\n');
      expect(await berthOk(['push', target], { timeoutMs: 120_000 })).toMatch(/\nv1: digest: sha256:[0-9a-f]{64} size: \d+\n$/);
      await berthOk(['rmi', target]);
      expect(await berthOk(['pull', '-q', target])).toBe(`${target}\n`);
      await berthOk(['logout', secured.host]);
      await berthOk(['rmi', target]);
      expect((await berth(['pull', target])).code).toBe(1);
    } finally {
      await secured.stop();
    }
  });

  it('login --password-stdin and logout keep a 0600 credential file', async () => {
    // berthd's /auth checks credentials against the registry; this one has no auth, so any login succeeds
    const r = await berth(['login', '-u', 'someone', '--password-stdin', t.reg.registry.host], { input: 'secret\n' });
    expect(r).toMatchObject({ code: 0, stdout: 'Login Succeeded\n' });
    const cfgPath = join(t.berthEnv['BERTH_CONFIG'] as string, 'config.json');
    expect((await stat(cfgPath)).mode & 0o777).toBe(0o600);
    const cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
    expect(Buffer.from(cfg.auths[t.reg.registry.host].auth, 'base64').toString()).toBe('someone:secret');
    expect(await berthOk(['logout', t.reg.registry.host])).toBe(`Removing login credentials for ${t.reg.registry.host}\n`);
    expect(JSON.parse(await readFile(cfgPath, 'utf8')).auths[t.reg.registry.host]).toBeUndefined();
    void writeFile;
  });
});
