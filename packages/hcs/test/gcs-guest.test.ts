/*
 * The GCS bridge end to end on Linux: the host side (GuestConnection, GcsBridge) against
 * the simulator's guest GCS, over the simulator's in-process hvsock, with hcsshim's LCOW
 * sequence (listen on the VM's GCS service before start, the guest dials in, protocol 4).
 * And the protocol's edge cases: frames cut into single bytes, a message type nobody
 * knows (either way), the guest going away in the middle of calls, the 64 KiB bound.
 */
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  GCS_SERVICE_LCOW,
  GcsBridge,
  GuestConnection,
  MAX_MESSAGE_SIZE,
  MessageDecoder,
  NOTIFICATION_TYPE,
  encodeMessage,
  lcowContainerRequest,
  lcowUvmDocument,
  requestType,
  responseType,
  scsiAttachRequest,
  type HcsSystem,
} from '../src/index.js';
import { HcsSimulator, duplexPair } from '../src/simulator/index.js';

const BOOT = 'C:\\lcow';

/** A running LCOW VM whose GCS dialled in; `chunk` bytes per hvsock write. */
async function lcowVm(chunk = 64 * 1024) {
  const sim = new HcsSimulator({ hvsockChunk: chunk });
  sim.addLinuxBootFiles(BOOT);
  const vm = await sim.createComputeSystem('u1', lcowUvmDocument({ bootFilesPath: BOOT }));
  const { RuntimeId } = await sim.getComputeSystemProperties(vm, { PropertyTypes: [] });
  return { sim, vm, vmId: RuntimeId! };
}

async function connected(chunk?: number) {
  const { sim, vm, vmId } = await lcowVm(chunk);
  const listening = await GuestConnection.listen({ transport: sim.hvsock, vmId, acceptTimeoutMs: 2000 });
  await sim.startComputeSystem(vm);
  const gc = await listening.accept();
  return { sim, vm, vmId, gc };
}

/** Disks mounted, layers combined, the container created and started: hcsshim's order. */
async function container(sim: HcsSimulator, vm: HcsSystem, gc: GuestConnection, id: string, args: string[], disks = true) {
  if (disks) {
    await sim.modifyComputeSystem(vm, scsiAttachRequest(1, 'C:\\s\\sandbox.vhdx'));
    await sim.modifyComputeSystem(vm, scsiAttachRequest(2, 'C:\\l\\layer.vhd', true));
    await gc.modify({ ResourceType: 'MappedVirtualDisk', RequestType: 'Add', Settings: { MountPath: '/run/mounts/scsi/m1', Controller: 0, Lun: 1 } });
    await gc.modify({ ResourceType: 'MappedVirtualDisk', RequestType: 'Add', Settings: { MountPath: '/run/mounts/scsi/m2', Controller: 0, Lun: 2, ReadOnly: true } });
  }
  await gc.modify({ ResourceType: 'CombinedLayers', RequestType: 'Add', Settings: { ContainerId: id, ContainerRootPath: `/run/gcs/c/${id}/rootfs`, Layers: [{ Id: '00000000-0000-0000-0000-000000000001', Path: '/run/mounts/scsi/m2' }], ScratchPath: `/run/mounts/scsi/m1/scratch/${id}` } });
  await gc.createContainer(id, lcowContainerRequest({ spec: { id, rootfs: { layers: ['C:\\l'] }, process: { args } }, scratchDirPath: `/run/mounts/scsi/m1/scratch/${id}` }));
  await gc.startContainer(id);
}

async function readAll(s: Duplex | NodeJS.ReadableStream | null): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s!) out.push(c as Buffer);
  return Buffer.concat(out);
}

describe('GCS bridge with the simulated guest', () => {
  it('runs a container over the bridge with every frame cut into single bytes: init, stdin through cat, an exec, exit notification', async () => {
    const { sim, vm, gc } = await connected(1);
    expect(gc.bridge.version).toBe(4);
    expect(gc.bridge.capabilities).toMatchObject({ SendHostCreateMessage: false, RuntimeOsType: 'Linux' });
    await container(sim, vm, gc, 'c1', ['cat']);
    const init = await gc.exec('c1', { CreateStdInPipe: true, CreateStdOutPipe: true, CreateStdErrPipe: true });
    const bytes = Buffer.from([...Array(256).keys()]);
    const echoed = readAll(init.stdout);
    init.stdin!.end(bytes);
    expect(await echoed).toEqual(bytes);
    expect(await init.exited).toBe(0);
    expect(await gc.waitContainer('c1')).toMatchObject({ ContainerId: 'c1', Type: 'UnexpectedExit', Result: 0 });
    await gc.bridge.deleteContainerState('c1');

    await container(sim, vm, gc, 'c2', ['sleep', '30'], false);
    await gc.exec('c2', { CreateStdOutPipe: true });
    const ex = await gc.exec('c2', { CreateStdOutPipe: true, CreateStdErrPipe: true, OciProcess: { terminal: false, user: { uid: 0, gid: 0 }, args: ['sh', '-c', 'echo out; echo err >&2; exit 3'], env: ['A=1'], cwd: '/' } });
    const [out, err] = await Promise.all([readAll(ex.stdout), readAll(ex.stderr)]);
    expect([out.toString(), err.toString(), await ex.exited]).toEqual(['out\n', 'err\n', 3]);
    const props = await gc.bridge.getProperties('c2', { PropertyTypes: ['ProcessList'] });
    expect(props.ProcessList!.map((p) => p.ImageName)).toEqual(['sleep']);
    await gc.bridge.shutdownContainer('c2', true);
    expect((await gc.waitContainer('c2')).Result).toBe(137);
    gc.close();
    await sim.terminateComputeSystem(vm);
  });

  it('answers a request type it does not know with E_NOTIMPL and goes on; refuses any version but 4 and anything before negotiation', async () => {
    const { sim, vm, vmId } = await lcowVm();
    const listener = await sim.hvsock.listen({ vmId, serviceId: GCS_SERVICE_LCOW });
    await sim.startComputeSystem(vm);
    const conn = await listener.accept();
    const d = new MessageDecoder();
    const ask = async (type: number, body: unknown) => {
      conn.write(encodeMessage({ type, id: 7n, body }));
      for (;;) {
        const [chunk] = (await once(conn, 'data')) as [Buffer];
        const [m] = d.push(chunk);
        if (m) return m;
      }
    };
    const early = await ask(requestType('Start'), { ContainerId: 'x' });
    expect(early.body).toMatchObject({ Result: 0x80370111 | 0 });
    const old = await ask(requestType('NegotiateProtocol'), { MinimumVersion: 3, MaximumVersion: 3 });
    expect(old.body).toMatchObject({ Result: 0x8037010c | 0 });
    const unknown = await ask(0x10100f01, { ContainerId: 'x' });
    expect(unknown.type).toBe(0x20100f01);
    expect(unknown.body).toMatchObject({ Result: 0x80004001 | 0, ErrorMessage: expect.stringContaining('not supported') });
    const ok = await ask(requestType('NegotiateProtocol'), { MinimumVersion: 4, MaximumVersion: 4 });
    expect(ok.type).toBe(responseType(requestType('NegotiateProtocol')));
    expect(ok.body).toMatchObject({ Result: 0, Version: 4 });
    conn.destroy();
    await sim.terminateComputeSystem(vm);
  });

  it('a guest that goes away mid-call answers every pending call with an error, and every later one; stdio closes', async () => {
    const { sim, vm, gc } = await connected(3);
    await container(sim, vm, gc, 'c1', ['sleep', '30']);
    const init = await gc.exec('c1', { CreateStdOutPipe: true });
    const calls = [init.exited, gc.waitContainer('c1'), gc.bridge.waitForProcess('c1', init.pid), gc.bridge.request('GetProperties', 'c1', { Query: '{}' })];
    sim.guestOf('u1')!.connection!.destroy();
    for (const c of calls) await expect(c).rejects.toThrow(/closed/);
    expect(gc.bridge.pendingCalls).toBe(0);
    await expect(gc.bridge.startContainer('c1')).rejects.toThrow(/closed/);
    // the host closed the process' stdio with the bridge
    if (!init.stdout!.destroyed) await once(init.stdout!, 'close');
    await sim.terminateComputeSystem(vm);
  });

  it('a message type the host does not know, or a response to nothing, from the guest fails the bridge and everything pending', async () => {
    for (const bad of [{ type: 0x40100101, id: 0n }, { type: responseType(requestType('Start')), id: 99n }, { type: (NOTIFICATION_TYPE + 0x100) >>> 0, id: 0n }]) {
      const [host, guest] = duplexPair(5);
      const bridge = new GcsBridge(host);
      const pending = [bridge.request('Start', 'c1', {}), bridge.request('Start', 'c2', {})];
      guest.write(encodeMessage({ ...bad, body: { Result: 0 } }));
      for (const p of pending) await expect(p).rejects.toThrow(/unexpected message type|matches no request/);
      await expect(bridge.request('Start', 'c3', {})).rejects.toThrow();
      guest.destroy();
    }
  });

  it('bounds messages at 64 KiB: a request too big fails alone; a frame too big from the guest fails the bridge; and one from the host makes the guest drop it', async () => {
    const { sim, vm, gc } = await connected();
    await expect(gc.bridge.request('ModifySettings', 'c1', { Request: 'x'.repeat(MAX_MESSAGE_SIZE) })).rejects.toThrow(/exceeds/);
    await expect(gc.bridge.getProperties('none', { PropertyTypes: [] })).rejects.toMatchObject({ code: 'HCS_E_SYSTEM_NOT_FOUND' });

    const [host, guest] = duplexPair();
    const bridge = new GcsBridge(host);
    const pending = bridge.request('Start', 'c1', {});
    const huge = Buffer.alloc(16);
    huge.writeUInt32LE(responseType(requestType('Start')), 0);
    huge.writeUInt32LE(MAX_MESSAGE_SIZE + 1, 4);
    guest.write(huge);
    await expect(pending).rejects.toThrow(/bad message size/);

    // the guest reading a header that claims more than 64 KiB drops the connection: the host's calls fail
    const raw = sim.guestOf('u1')!.connection!;
    const call = gc.bridge.request('Start', 'c1', {});
    raw.emit('data', huge);
    await expect(call).rejects.toThrow(/closed/);
    await sim.terminateComputeSystem(vm);
  });

  it('the guest refuses disks HCS never attached, layers that are not mounted, and a root that is not combined layers', async () => {
    const { sim, vm, gc } = await connected();
    await expect(gc.modify({ ResourceType: 'MappedVirtualDisk', RequestType: 'Add', Settings: { MountPath: '/run/mounts/scsi/m5', Controller: 0, Lun: 5 } })).rejects.toMatchObject({ code: 'ERROR_PATH_NOT_FOUND' });
    await expect(gc.modify({ ResourceType: 'CombinedLayers', RequestType: 'Add', Settings: { ContainerRootPath: '/run/gcs/c/x/rootfs', Layers: [{ Id: '00000000-0000-0000-0000-000000000001', Path: '/nowhere' }], ScratchPath: '/s' } })).rejects.toMatchObject({ code: 'ERROR_PATH_NOT_FOUND' });
    await expect(gc.createContainer('x', lcowContainerRequest({ spec: { id: 'x', rootfs: { layers: ['C:\\l'] }, process: { args: ['true'] } }, scratchDirPath: '/s' }))).rejects.toThrow(/not combined layers/);
    await expect(gc.modify({ ResourceType: 'VPCIDevice', RequestType: 'Add', Settings: {} })).rejects.toMatchObject({ code: 'E_NOTIMPL' });
    // a Network request (served since LCOW networking) without its namespace and adapter ids
    await expect(gc.modify({ ResourceType: 'Network', RequestType: 'Add', Settings: {} })).rejects.toMatchObject({ code: 'E_INVALIDARG' });
    gc.close();
    await sim.terminateComputeSystem(vm);
  });

  it('no listener, no bridge: a VM whose connection HCS owns gets no GCS dialling the host; accept gives up after its timeout', async () => {
    const { sim, vm, vmId } = await lcowVm();
    const listening = await GuestConnection.listen({ transport: sim.hvsock, vmId: '11111111-2222-3333-4444-555555555555', acceptTimeoutMs: 100 });
    await sim.startComputeSystem(vm);
    await expect(listening.accept()).rejects.toThrow(/did not connect within 100 ms/);
    expect(sim.hvsock.listening(vmId, GCS_SERVICE_LCOW)).toBe(false);
    await sim.terminateComputeSystem(vm);
  });
});
