import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBusyboxLayout, pushLayoutWithSkopeo, startRegistry, type BusyboxLayout, type RunningRegistry } from '@berth/fixtures';
import { HcsSimulator } from '@berth/hcs/simulator';
import type { ComputeSystem, LinuxHostedSystem, ModifySettingRequest } from '@berth/hcs';
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
  let hostDir: string | undefined;

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
    if (hostDir) rmSync(hostDir, { recursive: true, force: true });
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
  it('docker run --platform linux -p 8080:80 -v dir:/data:ro -v file:/etc/app.conf: the NAT endpoint is the VM\'s network adapter, the binds Plan9 shares', async () => {
    hostDir = mkdtempSync(join(tmpdir(), 'berth-lcow-bind-'));
    writeFileSync(join(hostDir, 'hello.txt'), 'hello through plan9\n');
    writeFileSync(join(hostDir, 'app.conf'), 'listen=80\n');
    const name = `lcow-net-${suffix}`;
    const mark = sim.received.length;
    const id = (
      await dockerOk(t.dockerEnv, ['run', '-d', '--platform', 'linux', '--name', name, '-p', '8080:80', '-v', `${hostDir}:/data:ro`, '-v', `${join(hostDir, 'app.conf')}:/etc/app.conf`, ref, 'sh', '-c', 'cat /data/hello.txt /etc/app.conf; sleep 30'], { timeoutMs: 120_000 })
    ).trim();
    // the container read the host's files at the binds' destinations, through the shares the guest mounted
    let out = '';
    for (let i = 0; i < 100 && !out.includes('listen=80'); i++) {
      out = await dockerOk(t.dockerEnv, ['logs', name]);
      if (!out.includes('listen=80')) await new Promise((r) => setTimeout(r, 100));
    }
    expect(out).toBe('hello through plan9\nlisten=80\n');
    const ip = (await dockerOk(t.dockerEnv, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name])).trim();
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect((await dockerOk(t.dockerEnv, ['port', name])).trim().split('\n')).toContain('80/tcp -> 0.0.0.0:8080');
    // HCS: the endpoint as the VM's adapter, then the disks, then the two shares (the file's directory, only it allowed)
    // (Adds only: the previous test's --rm container may still be taking its adapter away)
    const mods = sim.received.slice(mark).filter((r) => r.call === 'HcsModifyComputeSystem' && (r.document as ModifySettingRequest).RequestType === 'Add').map((r) => r.document as ModifySettingRequest);
    // the port is published as Windows containers' are: a PortMapping policy of the NAT endpoint
    const endpoint = sim.hcn.endpoint((mods[0]!.Settings as { EndpointId: string }).EndpointId);
    expect(endpoint.Policies).toEqual([{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080, Protocol: 6 } }]);
    const endpoints = [endpoint];
    expect(mods.map((m) => m.ResourcePath!.replace(/\/[^/]+$/, '/*'))).toEqual(['VirtualMachine/Devices/NetworkAdapters/*', expect.stringMatching(/Scsi/), expect.stringMatching(/Scsi/), 'VirtualMachine/Devices/Plan9/*', 'VirtualMachine/Devices/Plan9/*']);
    expect(mods[0]!.Settings).toEqual({ EndpointId: endpoints[0]!.ID, MacAddress: endpoints[0]!.MacAddress });
    // (in the order of the spec's mounts; the names count up per VM)
    expect(mods.slice(3).map((m) => m.Settings)).toEqual(
      expect.arrayContaining([
        { Name: expect.stringMatching(/^[01]$/), AccessName: expect.stringMatching(/^[01]$/), Path: hostDir, Port: 564, Flags: 5 },
        { Name: expect.stringMatching(/^[01]$/), AccessName: expect.stringMatching(/^[01]$/), Path: hostDir, Port: 564, Flags: 0x84, AllowedFiles: ['app.conf'] },
      ]),
    );
    // the guest: the adapter with docker inspect's address in the container's namespace; the OCI mounts on the guest's 9p mounts
    const gcs = sim.guestOf(`${id}@uvm`)!;
    const [adapter] = gcs.networkOf(id);
    expect(adapter).toMatchObject({ IPConfigs: [{ IPAddress: ip }], MacAddress: endpoints[0]!.MacAddress });
    const oci = (JSON.parse(gcs.received.find((r) => r.rpc === 'Create')!.body.ContainerConfig as string) as LinuxHostedSystem).OciSpecification;
    expect(oci.windows).toEqual({ network: { networkNamespace: adapter!.NamespaceID } });
    expect(oci.mounts.filter((m) => m.type === 'bind').map((m) => [m.destination, m.source, m.options])).toEqual(
      expect.arrayContaining([
        ['/data', expect.stringMatching(new RegExp(`^/run/gcs/c/${id}/mounts/m\\d+$`)), ['rbind', 'ro']],
        ['/etc/app.conf', expect.stringMatching(new RegExp(`^/run/gcs/c/${id}/mounts/m\\d+/app\\.conf$`)), ['rbind', 'rw']],
      ]),
    );
    const mark2 = sim.received.length;
    await dockerOk(t.dockerEnv, ['rm', '-f', name], { timeoutMs: 60_000 });
    // removal: shares and adapter taken from the VM, then HCN's endpoint and namespace
    const removed = sim.received.slice(mark2).filter((r) => r.call === 'HcsModifyComputeSystem' && (r.document as ModifySettingRequest).RequestType === 'Remove');
    expect(removed.map((r) => (r.document as ModifySettingRequest).ResourcePath!.replace(/\/[^/]+$/, '/*'))).toEqual(['VirtualMachine/Devices/Plan9/*', 'VirtualMachine/Devices/Plan9/*', 'VirtualMachine/Devices/NetworkAdapters/*']);
    expect(sim.hcn.endpoints.has(endpoint.ID)).toBe(false);
    expect(sim.hcn.namespaces.has(adapter!.NamespaceID.toLowerCase())).toBe(false);
    expect(sim.stateOf(`${id}@uvm`)).toBeUndefined();
  }, 180_000);
});
