import { run, tryRun } from './proc.js';

/** A /24 in `prefix.X.0/24` that no host route overlaps (random X, bounded tries). */
export async function freeSubnet(first: number, second: number[]): Promise<{ cidr: string; gateway: string }> {
  const { stdout } = await run('ip', ['-4', 'route', 'show']);
  for (let i = 0; i < 50; i++) {
    const b = second[Math.floor(Math.random() * second.length)]!;
    const c = Math.floor(Math.random() * 254) + 1;
    const net = `${first}.${b}.${c}.`;
    if (!stdout.includes(net) && !stdout.includes(`${first}.${b}.0.0/16`)) return { cidr: `${net}0/24`, gateway: `${net}1` };
  }
  throw new Error('no free /24 found');
}

/** A random device name with a prefix (<= 15 chars). */
export function deviceName(prefix: string): string {
  return `${prefix}${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0')}`;
}

/** A bridge with an address, up (for dockerd `--bridge`). */
export async function createBridge(name: string, gatewayCidr: string): Promise<void> {
  await run('ip', ['link', 'add', name, 'type', 'bridge']);
  await run('ip', ['addr', 'add', gatewayCidr, 'dev', name]);
  await run('ip', ['link', 'set', name, 'up']);
}

export async function deleteLink(name: string): Promise<void> {
  await tryRun('ip', ['link', 'del', name]);
}

/** Splits one iptables-save rule line into argv (double quotes as iptables-save writes them). */
function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/**
 * Deletes the iptables rules that mention `needle` (our bridge name or subnet), in
 * filter and nat: what a daemon's default network leaves behind after it stops.
 */
export async function deleteRulesMentioning(needle: string): Promise<number> {
  let deleted = 0;
  for (const table of ['filter', 'nat']) {
    const saved = await run('iptables-save', ['-t', table]).catch(() => ({ stdout: '' }));
    for (const line of saved.stdout.split('\n')) {
      if (!line.startsWith('-A ') || !line.includes(needle)) continue;
      const args = splitRule(line);
      args[0] = '-D';
      if (await tryRun('iptables', ['-w', '5', '-t', table, ...args])) deleted++;
    }
  }
  return deleted;
}
