// PodSandboxStatus's verbose `cniResult`, in the shape containerd prints the CNI result it
// got when the pod's network was set up (`crictl inspectp | jq .info.cniResult`): the pod's
// interfaces (eth0 and lo, in its namespace) and the host's side (the veth and the bridge),
// the routes and DNS. berthd's bridge network is its own, not a CNI plugin chain, so the
// result is read back from the kernel: eth0's peer index (`ip link` in the pod's network
// namespace; the pod's pause has no /sys of its own to read it from) names the host veth,
// whose master is the bridge.
import { execFile } from 'node:child_process';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { ContainerInspect } from '@berth/engine';

interface CniInterface {
  IPConfigs: { IP: string; Gateway: string }[] | null;
  Mac: string;
  Sandbox: string;
}

const read = (p: string): Promise<string | undefined> => readFile(p, 'utf8').then((s) => s.trim(), () => undefined);

/** eth0 in the network namespace `netns`: its peer's ifindex (`eth0@if12`) and its MAC. */
async function podEth0(netns: string): Promise<{ peer?: string; mac?: string }> {
  const out = await promisify(execFile)('nsenter', [`--net=${netns}`, 'ip', '-o', 'link', 'show', 'eth0'], { timeout: 5000 }).then((r) => r.stdout, () => '');
  const peer = /eth0@if(\d+)/.exec(out)?.[1];
  const mac = /link\/ether ([0-9a-f:]{17})/.exec(out)?.[1];
  return { ...(peer ? { peer } : {}), ...(mac ? { mac } : {}) };
}

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
  const eth0 = await podEth0(sandbox);
  const host = eth0.peer ? await hostSide(eth0.peer) : undefined;
  if (host?.bridge) interfaces[host.bridge] = { IPConfigs: null, Mac: (await read(join('/sys/class/net', host.bridge, 'address'))) ?? '', Sandbox: '' };
  interfaces.eth0 = { IPConfigs: [{ IP: ip, Gateway: net?.Gateway ?? '' }], Mac: net?.MacAddress || (eth0.mac ?? ''), Sandbox: sandbox };
  const lo: CniInterface = { IPConfigs: [{ IP: '127.0.0.1', Gateway: '' }], Mac: '00:00:00:00:00:00', Sandbox: sandbox };
  // ::1 only where the pod's namespace has IPv6 on lo
  if (/\blo$/m.test((await read(`/proc/${pid}/net/if_inet6`)) ?? '')) lo.IPConfigs!.push({ IP: '::1', Gateway: '' });
  interfaces.lo = lo;
  if (host) interfaces[host.veth] = { IPConfigs: null, Mac: (await read(join('/sys/class/net', host.veth, 'address'))) ?? '', Sandbox: '' };
  // the default route goes through eth0's gateway (IPConfigs); the bridge network reports no DNS of its own
  return { Interfaces: interfaces, DNS: [{}], Routes: [{ dst: '0.0.0.0/0' }] };
}
