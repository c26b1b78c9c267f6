import { mkdir, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntry } from '@berth/runtime';
import { detectCgroups, LinuxDriver } from '../src/index.js';
import { makeSandbox } from './helpers.js';
import { logText, runOnce, uid } from './run-helper.js';

let sandbox: Awaited<ReturnType<typeof makeSandbox>>;
let driver: LinuxDriver;

beforeAll(async () => {
  sandbox = await makeSandbox('extras');
  driver = new LinuxDriver({ stateDir: sandbox.stateDir });
});
afterAll(async () => {
  await driver.close();
  await sandbox.cleanup();
});

describe('LinuxDriver extras', () => {
  it('mounts a snapshotter overlay as rootfs and unmounts it on delete', async () => {
    const lower = (await sandbox.rootfs()).path as string;
    const upper = join(sandbox.base, 'ov-upper');
    const work = join(sandbox.base, 'ov-work');
    await mkdir(upper);
    await mkdir(work);
    const id = uid('overlay');
    await driver.create({
      id,
      rootfs: { mounts: [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`] }] },
      process: { args: ['sh', '-c', 'echo written > /new.txt; cat /etc/passwd | head -1'] },
      network: { mode: 'none' },
    });
    await driver.start(id);
    expect((await driver.wait(id)).exitCode).toBe(0);
    expect(await logText(driver, id)).toContain('root:x:0:0');
    expect(await readFile(join(upper, 'new.txt'), 'utf8')).toBe('written\n');
    await expect(stat(join(lower, 'new.txt'))).rejects.toThrow();
    await driver.delete(id);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    expect(mounts).not.toContain(id);
  });

  it('a pause right after start (runc, the race that once left a cgroup stuck FREEZING) freezes or fails thawed; a forced delete always works', async () => {
    const runcDriver = new LinuxDriver({ stateDir: join(sandbox.base, 'runc-state'), runtime: 'runc' });
    try {
      for (let i = 0; i < 8; i++) {
        const id = uid(`pausestart${i}`);
        await runcDriver.create({ id, rootfs: await sandbox.rootfs(), process: { args: ['sleep', '30'] }, network: { mode: 'none' } });
        await runcDriver.start(id);
        const paused = await runcDriver.pause!(id).then(() => true, () => false);
        const st = await runcDriver.state(id);
        expect(st.status).toBe('running');
        expect(st.paused === true).toBe(paused);
        const t0 = Date.now();
        await runcDriver.delete(id, { force: true });
        expect(Date.now() - t0).toBeLessThan(10_000);
      }
    } finally {
      await runcDriver.close();
    }
  });

  it('attach without stdin streams new output from the log', async () => {
    const id = uid('tail');
    await driver.create({
      id,
      rootfs: await sandbox.rootfs(),
      process: { args: ['sh', '-c', 'echo early; sleep 0.5; echo late; echo late-err >&2'] },
      network: { mode: 'none' },
    });
    await driver.start(id);
    const io = await driver.attach(id, { stdout: true, stderr: true });
    expect(io.stdin).toBeNull();
    let out = '';
    let err = '';
    io.stdout.on('data', (c: Buffer) => (out += c.toString()));
    io.stderr.on('data', (c: Buffer) => (err += c.toString()));
    await new Promise((r) => io.stdout.on('end', r));
    expect(out).toContain('late\n');
    expect(err).toBe('late-err\n');
    await driver.delete(id);
  });

  it('follows logs until the container stops', async () => {
    const id = uid('follow');
    await driver.create({
      id,
      rootfs: await sandbox.rootfs(),
      process: { args: ['sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.1; done'] },
      network: { mode: 'none' },
    });
    await driver.start(id);
    const lines: LogEntry[] = [];
    for await (const e of driver.logs(id, { follow: true })) lines.push(e);
    expect(lines.map((l) => l.data.toString())).toEqual(['line1\n', 'line2\n', 'line3\n']);
    expect(lines[0]?.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    await driver.delete(id);
  });

  it('joins another container’s network namespace (container:<id>)', async () => {
    const a = uid('neta');
    await driver.create({ id: a, rootfs: await sandbox.rootfs(), process: { args: ['sleep', '30'] }, network: { mode: 'none' } });
    await driver.start(a);
    const inA = await driver.exec(a, { args: ['readlink', '/proc/self/ns/net'] });
    let nsA = '';
    inA.stdout.on('data', (c: Buffer) => (nsA += c.toString()));
    await inA.exited;
    const b = await runOnce(driver, await sandbox.rootfs(), { args: ['readlink', '/proc/self/ns/net'] }, { network: { mode: `container:${a}` } });
    expect(nsA.trim()).toMatch(/^net:\[\d+\]$/);
    expect(b.stdout.trim()).toBe(nsA.trim());
    await driver.delete(a, { force: true });
  });

  it('host network mode shares the host namespace', async () => {
    const hostNs = await readlink('/proc/self/ns/net');
    const r = await runOnce(driver, await sandbox.rootfs(), { args: ['readlink', '/proc/self/ns/net'] }, { network: { mode: 'host' } });
    expect(r.stdout.trim()).toBe(hostNs);
  });

  it('rejects bad specs without leaving anything behind', async () => {
    await expect(driver.create({ id: '../evil', rootfs: await sandbox.rootfs(), process: { args: ['true'] } })).rejects.toMatchObject({ code: 'InvalidArgument' });
    const id = uid('baduser');
    await expect(driver.create({ id, rootfs: await sandbox.rootfs(), process: { args: ['true'], user: 'ghost' } })).rejects.toMatchObject({ code: 'NotFound' });
    await expect(driver.state(id)).rejects.toMatchObject({ code: 'NotFound' });
    expect(await readdir(join(sandbox.stateDir, 'containers'))).not.toContain(id);
    const bad = uid('badcmd');
    await driver.create({ id: bad, rootfs: await sandbox.rootfs(), process: { args: ['/no/such/binary'] }, network: { mode: 'none' } }).then(
      async () => {
        // some runtimes only fail at start
        await expect(driver.start(bad)).rejects.toBeTruthy();
        await driver.delete(bad, { force: true });
      },
      (err: unknown) => expect(err).toBeTruthy(),
    );
    expect(await readdir(join(sandbox.stateDir, 'containers'))).not.toContain(bad);
  });

  it('resizes a tty exec', async () => {
    const id = uid('exectty');
    await driver.create({ id, rootfs: await sandbox.rootfs(), process: { args: ['sleep', '30'] }, network: { mode: 'none' } });
    await driver.start(id);
    const p = await driver.exec(id, {
      args: ['sh', '-c', 'i=0; while [ "$(stty size)" != "40 120" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; stty size'],
      tty: true,
      terminalSize: { height: 10, width: 20 },
    });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise((r) => setTimeout(r, 200));
    await p.resize({ height: 40, width: 120 });
    expect(await p.exited).toBe(0);
    expect(out).toContain('40 120');
    await driver.delete(id, { force: true });
  });

  it('crun reuses a compiled seccomp filter: same denials in the container and its execs; a label never picks the filter', async () => {
    // a per-test profile (random errno) so that this run compiles it first
    const errnoRet = 100 + Math.floor(Math.random() * 20);
    const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet }] };
    // allow-everything classic BPF (ret SECCOMP_RET_ALLOW): must not replace the profile
    const allowAll = Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]).toString('base64');
    const annotations: (string | undefined)[] = [];
    for (let round = 0; round < 2; round++) {
      const id = uid('scache');
      await driver.create({
        id,
        rootfs: await sandbox.rootfs(),
        process: { args: ['sh', '-c', 'mkdir /tmp/a && echo mkdir-ok || echo mkdir-denied; sleep 30'] },
        network: { mode: 'none' },
        labels: { 'run.oci.seccomp_bpf_data': allowAll },
        security: { seccomp: { profile } },
      });
      try {
        const cfg = JSON.parse(await readFile(join(sandbox.stateDir, 'containers', id, 'config.json'), 'utf8')) as { annotations?: Record<string, string> };
        annotations.push(cfg.annotations?.['run.oci.seccomp_bpf_data']);
        await driver.start(id);
        const ex = await driver.exec(id, { args: ['sh', '-c', 'mkdir /tmp/b && echo exec-mkdir-ok || echo exec-mkdir-denied'] });
        let out = '';
        ex.stdout.on('data', (c: Buffer) => (out += c.toString()));
        expect(await ex.exited).toBe(0);
        expect(out).toContain('exec-mkdir-denied');
        for (let i = 0; i < 100 && !(await logText(driver, id)).includes('mkdir-'); i++) await new Promise((r) => setTimeout(r, 20));
        expect(await logText(driver, id)).toContain('mkdir-denied');
      } finally {
        await driver.delete(id, { force: true });
      }
    }
    // first run: crun compiles the profile (the label's annotation dropped); second: the cached filter
    expect(annotations[0]).toBeUndefined();
    expect(annotations[1]).toBeDefined();
    expect(annotations[1]).not.toBe(allowAll);
  });

  it('deleting an exited container leaves no runtime state, cgroup or exit file behind', async () => {
    const id = uid('gone');
    await driver.create({ id, rootfs: await sandbox.rootfs(), process: { args: ['true'] }, network: { mode: 'none' } });
    await driver.start(id);
    expect((await driver.wait(id)).exitCode).toBe(0);
    await driver.delete(id);
    await expect(driver.state(id)).rejects.toThrow(/no such container/);
    await expect(stat(join(sandbox.stateDir, 'runtime', id))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(sandbox.stateDir, 'exits', id))).rejects.toThrow(/ENOENT/);
    const cg = await detectCgroups();
    for (const m of [...cg.v1.values(), ...(cg.unified ? [cg.unified] : [])]) {
      await expect(stat(join(m, 'berth', id))).rejects.toThrow(/ENOENT/);
    }
  });
});
