import { BerthError } from '@berth/image-format';
import type { CniExecutor, CniResult, PluginCall } from './cni.js';
import type { NetworkAttachmentRecord, PluginStep } from './endpoint-records.js';
import { hostLocalRanges, networkKey } from './ipam-config.js';
import { parseCidr } from './ipv4.js';
import { parseCidr6 } from './ipv6.js';
import type { PublishedPort } from './ports.js';
import type { EndpointOptions, NetworkInfo } from './types.js';

/**
 * The CNI plugin chain of one endpoint: bridge (+ host-local IPAM) always, portmap when
 * it publishes ports. `ipamDataDir` is where host-local keeps its leases.
 */
export function pluginChain(ipamDataDir: string, net: NetworkInfo, primary: boolean, ports: PublishedPort[], ep: EndpointOptions): PluginStep[] {
  // Only the first network gets the default route; a second one would clash (EEXIST).
  const routes = !net.internal && primary ? [{ dst: '0.0.0.0/0' }, ...(net.subnet6 ? [{ dst: '::/0' }] : [])] : [];
  const fixed = [
    ...(ep.ipv4Address ? [`${ep.ipv4Address}/${parseCidr(net.subnet).prefixLen}`] : []),
    ...(ep.ipv6Address && net.subnet6 ? [`${ep.ipv6Address}/${parseCidr6(net.subnet6).prefixLen}`] : []),
  ];
  // host-local honours runtimeConfig.ips (the `ips` capability), bridge runtimeConfig.mac.
  const runtimeConfig = { ...(fixed.length > 0 ? { ips: fixed } : {}), ...(ep.mac ? { mac: ep.mac } : {}) };
  const steps: PluginStep[] = [
    {
      config: {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        // Masquerading is one rule per network (installNetworkRules), not a chain per container.
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: hostLocalRanges(net, fixed.length > 0),
          routes,
          dataDir: ipamDataDir,
        },
      },
      ...(Object.keys(runtimeConfig).length > 0 ? { runtimeConfig } : {}),
    },
  ];
  if (ports.length > 0) {
    steps.push({
      config: { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      runtimeConfig: {
        portMappings: ports.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, hostIP: p.hostIp })),
      },
    });
  }
  // No firewall plugin: BERTH-FORWARD accepts a network's traffic (installNetworkRules).
  return steps;
}

/** portmap, firewall and bridge with ipMasq (records of earlier versions) leave chains to clean. */
export function leavesIptablesRules(step: PluginStep): boolean {
  return step.config.type !== 'bridge' || step.config.ipMasq === true;
}

/** One plugin step of a network attachment as a CNI call, with the recorded prevResult. */
function pluginCall(command: 'ADD' | 'DEL', containerId: string, netns: string, n: NetworkAttachmentRecord, step: PluginStep): PluginCall {
  return {
    command,
    containerId,
    netns,
    ifname: n.ifname,
    networkName: networkKey(n.network),
    config: step.config,
    ...(step.runtimeConfig ? { runtimeConfig: step.runtimeConfig } : {}),
    ...(n.result ? { prevResult: n.result } : {}),
  };
}

/** CNI DEL of one plugin step with the recorded prevResult; the failure's text, if any. */
export async function cniDel(cni: CniExecutor, containerId: string, netns: string, n: NetworkAttachmentRecord, step: PluginStep): Promise<string | undefined> {
  try {
    await cni.exec(pluginCall('DEL', containerId, netns, n, step));
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** portmap/firewall may race other CNI users creating the shared chains: bounded retry. */
export async function addWithRetry(cni: CniExecutor, containerId: string, netns: string, n: NetworkAttachmentRecord, step: PluginStep): Promise<CniResult> {
  const attempts = step.config.type === 'bridge' ? 1 : 3;
  for (let i = 1; ; i++) {
    try {
      const result = await cni.exec(pluginCall('ADD', containerId, netns, n, step));
      if (!result) throw new BerthError('Internal', `CNI ${step.config.type} ADD returned no result`);
      return result;
    } catch (e) {
      if (i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 100 * i));
    }
  }
}
