/*
 * A pod sandbox's namespace holder run as the driver's own pause (spawn helper, no conmon
 * or OCI runtime): its namespaces, hostname, sysctls, cgroup and bare root; containers that
 * join it; its exit, its orphans, a daemon restart; the network it held.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildBusyboxRootfs } from '@berth/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxDriver } from '../src/index.js';
import { CniNetworkManager } from '../src/network/index.js';
import { runProgram } from '../src/process/run-program.js';
import { freePort, freeSubnet, httpGetEventually, uniqueBridge } from '../src/network/test-support.js';
import { logText, uid } from './run-helper.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const CI = process.env.CI === 'true';
const ids: string[] = [];
let base: string;
let manager: CniNetworkManager;
let driver: LinuxDriver;
let rootfsN = 0;

function id(tag: string): string {
  const v = uid(`hold-${tag}`);
  ids.push(v);
  return v;
}

async function rootfs(): Promise<{ path: string }> {
  const dir = join(base, `rootfs-${rootfsN++}`);
  await buildBusyboxRootfs(dir);
  return { path: dir };
}

const status = async (pid: number, field: string): Promise<string> => new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';

describe.runIf(isRoot || CI)('namespace holder as the driver pause', () => {
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-dl-holder-'));
    await chmod(base, 0o755);
    manager = new CniNetworkManager({ stateDir: join(base, 'net'), netnsDir: join(base, 'netns'), defaultNetwork: { name: 'holderdefault', bridge: uniqueBridge(), subnet: await freeSubnet() } });
    driver = new LinuxDriver({ stateDir: join(base, 'state'), network: manager });
  });

  afterAll(async () => {
    for (const c of ids.reverse()) await driver.delete(c, { force: true }).catch(() => undefined);
    await driver.close();
    for (const n of await manager.listNetworks()) await manager.removeNetwork(n.name).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });

  it('holds the pod network, hostname and sysctls for the containers that join it, as PID 1 with nothing of the host', async () => {
    const holder = id('pod');
    const hostPort = await freePort();
    await driver.create({
      id: holder,
      rootfs: await rootfs(),
      process: { args: ['sleep', 'infinity'] },
      hostname: 'pod-host',
      namespaceHolder: true,
      sysctls: { 'net.ipv4.ip_local_port_range': '20000 30000', 'kernel.shmmni': '1234' },
      network: { mode: 'bridge', ports: [{ hostIp: '127.0.0.1', hostPort, containerPort: 80, protocol: 'tcp' }] },
    });
    expect((await driver.state(holder)).status).toBe('created');
    await driver.start(holder);
    const st = await driver.state(holder);
    expect(st.status).toBe('running');
    const pid = st.pid as number;
    // the pause itself: named so, nobody, no way to gain privileges, an empty root
    expect((await readFile(`/proc/${pid}/comm`, 'utf8')).trim()).toBe('pause');
    expect((await status(pid, 'Uid')).split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    expect(await status(pid, 'NoNewPrivs')).toBe('1');
    expect(await status(pid, 'CapEff')).toBe('0000000000000000');
    expect(await readdir(`/proc/${pid}/root`)).toEqual([]);
    expect(await status(pid, 'NSpid')).toMatch(/\s1$/);
    // its namespaces: the attached netns, its own UTS with the pod's name, the IPC sysctl
    const spec = (await driver.ociSpec(holder)) as { linux: { namespaces: { type: string; path?: string }[] } };
    const netns = spec.linux.namespaces.find((n) => n.type === 'network')?.path as string;
    expect((await stat(netns)).ino).toBe((await stat(`/proc/${pid}/ns/net`)).ino);
    expect((await run('nsenter', ['-t', String(pid), '-u', 'hostname'])).stdout.trim()).toBe('pod-host');
    expect((await run('nsenter', ['-t', String(pid), '-i', 'cat', '/proc/sys/kernel/shmmni'])).stdout.trim()).toBe('1234');
    expect(await readlink(`/proc/${pid}/ns/mnt`)).not.toBe(await readlink('/proc/self/ns/mnt'));
    // nothing of the daemon's or the helper's stays open in the pause or its monitor
    const monitor = Number((await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ')[1]);
    for (const p of [pid, monitor]) {
      const fds = await readdir(`/proc/${p}/fd`);
      expect(await Promise.all(fds.map((fd) => readlink(`/proc/${p}/fd/${fd}`)))).toEqual(['/dev/null', '/dev/null', '/dev/null']);
    }

    // a container in its network and PID namespaces: the sysctl, PID 1 the pause, its published port
    const web = id('web');
    const fs = await rootfs();
    await run('sh', ['-c', `mkdir -p ${fs.path}/www && echo served-in-pod > ${fs.path}/www/index.html`]);
    await driver.create({
      id: web,
      rootfs: fs,
      process: { args: ['sh', '-c', 'cat /proc/sys/net/ipv4/ip_local_port_range; echo pid $$; cat /proc/1/comm; exec httpd -f -p 80 -h /www'] },
      network: { mode: `container:${holder}` },
      pidNamespaceOf: holder,
    });
    await driver.start(web);
    expect(await httpGetEventually(`http://127.0.0.1:${hostPort}/`)).toBe('served-in-pod\n');
    const out = await logText(driver, web);
    expect(out).toMatch(/^20000\s+30000\npid (\d+)\npause\n/);
    expect(Number(/pid (\d+)/.exec(out)?.[1])).toBeGreaterThan(1);
    await driver.delete(web, { force: true });

    // the pause's cgroup is the container's own
    const procs = await readFile(`/sys/fs/cgroup/memory/berth/${holder}/cgroup.procs`, 'utf8').catch(() => readFile(`/sys/fs/cgroup/berth/${holder}/cgroup.procs`, 'utf8'));
    expect(procs.trim().split('\n')).toContain(String(pid));
    expect((await driver.stats(holder)).memory.usageBytes).toBeGreaterThan(0);
    expect(await logText(driver, holder)).toBe('');
    await expect(driver.exec(holder, { id: 'x', args: ['true'] })).rejects.toMatchObject({ code: 'Unsupported' });

    await driver.kill(holder, 'SIGKILL');
    expect((await driver.wait(holder)).exitCode).toBe(137);
    await expect(driver.start(holder)).rejects.toMatchObject({ code: 'Conflict' });
    await driver.delete(holder);
    await expect(driver.state(holder)).rejects.toMatchObject({ code: 'NotFound' });
    await expect(stat(netns)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(`/sys/fs/cgroup/memory/berth/${holder}`)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('starts while other programs run through the spawn helper', async () => {
    // their pipes are the helper's open handles when it forks the pause's monitor: closed
    // under Perl, a reused number stayed open and the monitor waited for the pause forever
    const busy = [runProgram('sleep', ['1']), runProgram('sleep', ['1'])];
    for (const tag of ['busy1', 'busy2']) {
      const holder = id(tag);
      await driver.create({ id: holder, rootfs: await rootfs(), process: { args: ['sleep', 'infinity'] }, namespaceHolder: true, network: { mode: 'none' } });
      await driver.start(holder);
      expect((await driver.state(holder)).status).toBe('running');
      await driver.delete(holder, { force: true });
    }
    await Promise.all(busy);
  });

  it('reaps what is orphaned to it, and exits 0 on SIGTERM', async () => {
    const holder = id('reap');
    await driver.create({ id: holder, rootfs: await rootfs(), process: { args: ['sleep', 'infinity'] }, namespaceHolder: true, network: { mode: 'none' } });
    await driver.start(holder);
    const pid = (await driver.state(holder)).pid as number;
    const c = id('orphans');
    await driver.create({ id: c, rootfs: await rootfs(), process: { args: ['sh', '-c', '(sleep 0.2 &); (sleep 0.2 &); sleep 30'] }, network: { mode: `container:${holder}` }, pidNamespaceOf: holder });
    await driver.start(c);
    await new Promise((r) => setTimeout(r, 800));
    const zombies: string[] = [];
    for (const p of await readdir('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      const s = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
      const after = s.slice(s.lastIndexOf(')') + 2).split(' ');
      if (after[0] === 'Z' && Number(after[1]) === pid) zombies.push(p);
    }
    expect(zombies).toEqual([]);
    await driver.delete(c, { force: true });
    await driver.kill(holder, 'SIGTERM');
    expect((await driver.wait(holder)).exitCode).toBe(0);
  });

  it('shares the host network when asked, and refuses sysctls that would change the host', async () => {
    await expect(
      driver.create({ id: id('hostsys'), rootfs: await rootfs(), process: { args: ['sleep', 'infinity'] }, namespaceHolder: true, network: { mode: 'host' }, sysctls: { 'net.ipv4.ip_forward': '1' } }),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(
      driver.create({ id: id('nonns'), rootfs: await rootfs(), process: { args: ['sleep', 'infinity'] }, namespaceHolder: true, network: { mode: 'none' }, sysctls: { 'vm.swappiness': '1' } }),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
    const holder = id('hostnet');
    await driver.create({ id: holder, rootfs: await rootfs(), process: { args: ['sleep', 'infinity'] }, namespaceHolder: true, hostname: 'ignored', network: { mode: 'host' } });
    await driver.start(holder);
    const pid = (await driver.state(holder)).pid as number;
    expect(await readlink(`/proc/${pid}/ns/net`)).toBe(await readlink('/proc/self/ns/net'));
    expect((await run('nsenter', ['-t', String(pid), '-u', 'hostname'])).stdout.trim()).toBe((await run('hostname')).stdout.trim());
    await driver.delete(holder, { force: true });
  });

  it('outlives the daemon that made it; a new driver takes it over', async () => {
    const stateDir = join(base, 'survive');
    const holder = id('survive');
    const script = fileURLToPath(new URL('./start-detached.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, stateDir, (await rootfs()).path, holder, 'crun', 'holder'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<unknown>((r) => child.on('exit', r));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the child did not start the holder')), 30_000);
      child.stdout.on('data', (b: Buffer) => {
        if (b.toString().includes('started')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    child.kill('SIGKILL');
    await exited;
    const again = new LinuxDriver({ stateDir });
    try {
      const st = await again.state(holder);
      expect(st.status).toBe('running');
      expect((await readFile(`/proc/${st.pid}/comm`, 'utf8')).trim()).toBe('pause');
      await again.kill(holder, 'SIGKILL');
      expect((await again.wait(holder)).exitCode).toBe(137);
      await again.delete(holder);
    } finally {
      await again.close();
    }
  });
});
