import { InvalidArgumentError } from '@berth/image-format';

/**
 * Docker's daemon.json `bip` names the bridge's own address with its prefix
 * (`172.17.0.1/16`), not the subnet. A value without host bits (`10.89.0.0/24`, which
 * Berth accepted before) still means the subnet, with the gateway at its first address.
 */
export function defaultBridgeFromBip(bip: string): { subnet: string; gateway: string } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(bip.trim());
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : NaN;
  if (!m || octets.some((o) => o > 255) || !(prefix >= 1 && prefix <= 30)) {
    throw new InvalidArgumentError(`invalid bip ${JSON.stringify(bip)}: expected an IPv4 address with a prefix length, like 172.17.0.1/16`);
  }
  const address = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const network = address - (address % size);
  const dotted = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
  const subnet = `${dotted(network)}/${prefix}`;
  if (address === network) return { subnet, gateway: dotted(network + 1) };
  if (address === network + size - 1) throw new InvalidArgumentError(`invalid bip ${bip}: that is the broadcast address of ${subnet}`);
  return { subnet, gateway: dotted(address) };
}
