// PodSandboxStatus's verbose `cniResult`, in the shape containerd prints the CNI result it
// got when the pod's network was set up (`crictl inspectp | jq .info.cniResult`): the pod's
// interfaces (eth0 and lo, in its namespace) and the host's side (the veth and the bridge),
// the routes and DNS. berthd's bridge network is its own, not a CNI plugin chain, so the
// result is read back from the kernel: eth0's peer index (sysfs as mounted in the pod) names
// the host veth, whose master is the bridge.
import { readFile, readdir, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ContainerInspect } from '@berth/engine';

interface CniInterface {
  IPConfigs: { IP: string; Gateway: string }[] | null;
  Mac: string;
  Sandbox: string;
}

const read = (p: string): Promise<string | undefined> => readFile(p, 'utf8').then((s) => s.trim(), () => undefined);

/** The host interface whose ifindex is `index` (the pod's eth0 peer), and its bridge. */
async function hostSide(index: string): Promise<{ veth: string; bridge?: string } | undefined> {
  const names = await readdir('/sys/class/net').catch(() => [] as string[]);
  for (const name of names) {
    if ((await read(join('/sys/class/net', name, 'ifindex'))) !== index) continue;
    const master = await readlink(join('/sys/class/net', name, 'master')).catch(() => undefined);
    return { veth: name, ...(master ? { bridge: basename(master) } : {}) };
  }
  return undefined;
}

/** The CNI result of a running, non-host-network sandbox; null otherwise (as containerd's with no CNI setup). */
export async function cniResult(c: ContainerInspect, ip: string): Promise<object | null> {
  const pid = c.State.Pid;
  if (!c.State.Running || !pid || !ip) return null;
  const net = c.NetworkSettings;
  const sandbox = `/proc/${pid}/ns/net`;
  const interfaces: Record<string, CniInterface> = {};
  const podSys = `/proc/${pid}/root/sys/class/net`;
  const peer = await read(join(podSys, 'eth0', 'iflink'));
  const host = peer ? await hostSide(peer) : undefined;
  if (host?.bridge) interfaces[host.bridge] = { IPConfigs: null, Mac: (await read(join('/sys/class/net', host.bridge, 'address'))) ?? '', Sandbox: '' };
  interfaces.eth0 = { IPConfigs: [{ IP: ip, Gateway: net?.Gateway ?? '' }], Mac: net?.MacAddress || ((await read(join(podSys, 'eth0', 'address'))) ?? ''), Sandbox: sandbox };
  const lo: CniInterface = { IPConfigs: [{ IP: '127.0.0.1', Gateway: '' }], Mac: '00:00:00:00:00:00', Sandbox: sandbox };
  // ::1 only where the pod's namespace has IPv6 on lo
  if (/\blo$/m.test((await read(`/proc/${pid}/net/if_inet6`)) ?? '')) lo.IPConfigs!.push({ IP: '::1', Gateway: '' });
  interfaces.lo = lo;
  if (host) interfaces[host.veth] = { IPConfigs: null, Mac: (await read(join('/sys/class/net', host.veth, 'address'))) ?? '', Sandbox: '' };
  // the default route goes through eth0's gateway (IPConfigs); the bridge network reports no DNS of its own
  return { Interfaces: interfaces, DNS: [{}], Routes: [{ dst: '0.0.0.0/0' }] };
}
