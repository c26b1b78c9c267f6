// Same cleanup as apps/cli/test/support/network-cleanup.ts (apps do not import each other).
import { execFile } from 'node:child_process';

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => resolve({ code: err ? 1 : 0, stdout }));
  });
}

/** Splits one iptables-save rule line into argv (it quotes comments with double quotes). */
function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] as string));
  return out;
}

/**
 * berthd leaves its bridge and firewall rules behind when it stops (like docker0), so a
 * test that gave a daemon its own bridge removes them: every iptables rule naming the
 * bridge or an address of its /24, the CNI chains those rules jump to, then the link.
 */
export async function removeDaemonNetwork(bridge: string, subnet: string): Promise<void> {
  const prefix = subnet.replace(/\.0\/24$/, '.');
  const escaped = prefix.replace(/\./g, '\\.');
  const pattern = new RegExp(`(^|[\\s"])${bridge}([\\s"]|$)|(^|[\\s/])${escaped}\\d`);
  const saved = (await run('iptables-save', [])).stdout;
  let table = '';
  const chains = new Set<string>();
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    if (!line.startsWith('-A ') || !pattern.test(line)) continue;
    const args = splitRule(line);
    args[0] = '-D';
    await run('iptables', ['-t', table, ...args]);
    const jump = /-j (CNI-[0-9a-f]{24})\b/.exec(line);
    if (jump) chains.add(`${table} ${jump[1]}`);
  }
  for (const c of chains) {
    const [t, chain] = c.split(' ') as [string, string];
    await run('iptables', ['-t', t, '-F', chain]);
    await run('iptables', ['-t', t, '-X', chain]);
  }
  await run('ip', ['link', 'del', bridge]);
}
