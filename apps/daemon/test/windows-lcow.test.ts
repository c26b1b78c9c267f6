import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxLayout, pushLayoutWithSkopeo, startRegistry, type BusyboxLayout, type RunningRegistry } from '@berth/fixtures';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { ComputeSystem } from '@berth/hcs';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';

// LCOW through berthd: berthd composed for a Windows Server 2022 host over the HCS
// simulator runs a Linux image with `--platform linux` through the docker CLI. The image's
// layer is kept in the windowsfilter store as an ext4 `layer.vhd` (e2fsck-clean, the
// busybox binary inside byte for byte); the container runs in a Linux utility VM whose
// guest connection Berth holds: the simulated GCS dials the simulator's in-process hvsock
// and the container, its process and its stdio go over the bridge protocol. What a real
// Linux kernel in a real utility VM does with that disk only a Windows host shows.

const BOOT = 'C:\\Program Files\\Linux Containers';
/** The busybox fixture's /etc/passwd. */
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n';

describe('LCOW through berthd composed for a Windows host (over the HCS simulator)', () => {
  let t: TestDaemon;
  let reg: RunningRegistry;
  let sim: HcsSimulator;
  let bb: BusyboxLayout;
  const suffix = Math.random().toString(16).slice(2, 8);
  let ref: string;

  beforeAll(async () => {
    [reg, bb] = await Promise.all([startRegistry(), buildBusyboxLayout()]);
    ref = `${reg.host}/berth/lcow-${suffix}:1`;
    await pushLayoutWithSkopeo(bb.layoutDir, 'latest', ref);
    sim = new HcsSimulator({ onDisk: true, hvsockChunk: 509 });
    sim.addLinuxBootFiles(BOOT);
    t = await startTestDaemon({ platform: { os: 'win32', productName: 'Windows Server 2022 Datacenter', hcs: sim, hvsock: sim.hvsock, linuxBootFiles: BOOT } });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    sim?.storage.removeHostDirs();
    await reg?.stop();
  });

  it('pulls a Linux image with --platform linux into layer folders holding ext4 layer.vhd disks, never through HcsImportLayer', async () => {
    await dockerOk(t.dockerEnv, ['pull', '--platform', 'linux', ref], { timeoutMs: 120_000 });
    expect((await dockerOk(t.dockerEnv, ['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}', ref])).trim()).toMatch(/^linux\//);
    expect(sim.received.filter((r) => r.call === 'HcsImportLayer')).toHaveLength(0);
    const store = join(t.dir, 'root', 'windowsfilter', 'layers');
    const vhds = readdirSync(store).map((d) => join(store, d, 'layer.vhd')).filter((p) => existsSync(p));
    expect(vhds).toHaveLength(1);
    // the disk without its VHD footer is an ext4 e2fsck finds clean, with the image's busybox in it
    const img = join(t.dir, 'layer.img');
    const cp = spawnSync('sh', ['-c', `head -c $(( $(stat -c %s '${vhds[0]}') - 512 )) '${vhds[0]}' > '${img}'`]);
    expect(cp.status).toBe(0);
    const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    const busybox = spawnSync('debugfs', ['-R', 'cat /bin/busybox', img], { maxBuffer: 1 << 28 });
    expect(createHash('sha256').update(busybox.stdout).digest('hex')).toBe(createHash('sha256').update(readFileSync('/bin/busybox')).digest('hex'));
  }, 180_000);

  it('docker run --platform linux runs in an LCOW utility VM, over the GCS bridge', async () => {
    const name = `lcow-${suffix}`;
    const run = await docker(t.dockerEnv, ['run', '--platform', 'linux', '--name', name, ref, 'sh', '-c', 'echo hello from lcow; echo to stderr >&2; exit 3'], { timeoutMs: 120_000 });
    expect([run.stdout, run.stderr, run.code]).toEqual(['hello from lcow\n', 'to stderr\n', 3]);
    expect((await dockerOk(t.dockerEnv, ['inspect', '-f', '{{.HostConfig.Isolation}} {{.Platform}} {{.State.ExitCode}}', name])).trim()).toBe('hyperv linux 3');
    expect((await dockerOk(t.dockerEnv, ['logs', name])).trim()).toBe('hello from lcow');
    const creates = sim.received.filter((r) => r.call === 'HcsCreateComputeSystem').map((r) => r.document as ComputeSystem);
    // HCS saw only the utility VM: no HostedSystem, no GuestConnection; the container went to the GCS
    expect(creates).toHaveLength(1);
    expect(creates[0]!.VirtualMachine!.Chipset.LinuxKernelDirect).toBeDefined();
    expect(creates[0]!.VirtualMachine!.GuestConnection).toBeUndefined();
    const id = (await dockerOk(t.dockerEnv, ['inspect', '-f', '{{.Id}}', name])).trim();
    const gcs = sim.guestOf(`${id}@uvm`)!;
    expect(gcs.received.map((r) => r.rpc)).toEqual(expect.arrayContaining(['NegotiateProtocol', 'ModifySettings', 'Create', 'Start', 'ExecuteProcess', 'WaitForProcess']));
    await dockerOk(t.dockerEnv, ['rm', name]);
    // the guest reads the image's files from the ext4 layer disk HCS attached (the simulated GCS reads the VHD)
    const cat = await docker(t.dockerEnv, ['run', '--rm', '--platform', 'linux', ref, 'cat', '/etc/passwd'], { timeoutMs: 120_000 });
    expect([cat.stdout, cat.code]).toEqual([PASSWD, 0]);
    // the VM is gone, the scratch disk with it
    expect(sim.stateOf(`${id}@uvm`)).toBeUndefined();
    expect(existsSync(join(t.dir, 'root', 'windowsfilter', 'scratch', id))).toBe(false);
  }, 180_000);
});
