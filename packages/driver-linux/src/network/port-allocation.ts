import { allocatePorts, type HostPorts } from '@berth/runtime';
import { listForwardedPorts } from './iptables.js';
import { ephemeralHostPort, tryBindHostPort, type PublishedPort } from './ports.js';

/** The containers' published ports as recorded (the attachments). */
interface PublishedPortsSource {
  values(): Promise<{ containerId: string; ports: PublishedPort[] }[]>;
}

/** This host as the allocator sees it: real binds, the kernel's ephemeral ports, and other CNI users' forwards. */
const linuxHostPorts: HostPorts = {
  tryBind: tryBindHostPort,
  ephemeral: ephemeralHostPort,
  foreign: listForwardedPorts,
  foreignOwner: 'another CNI user on this host',
};

/** @berth/runtime's allocator over the recorded attachments and this host; nothing is bound afterwards. */
export async function allocateHostPorts(attachments: PublishedPortsSource, ports: PublishedPort[]): Promise<PublishedPort[]> {
  if (ports.length === 0) return [];
  return allocatePorts(ports, await attachments.values(), linuxHostPorts);
}
