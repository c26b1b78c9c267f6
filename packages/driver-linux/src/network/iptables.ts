import { BerthError } from '@berth/image-format';
import { runCommand, runChecked } from './run-command.js';

/*
 * iptables housekeeping the CNI plugins leave to their caller. Every change is one
 * `iptables-restore --noflush` transaction built from a fresh `iptables-save`, so it
 * applies whole or not at all (nf_tables) even while other processes edit the tables.
 */

export type Table = 'nat' | 'filter';

export interface Rule {
  table: Table;
  chain: string;
  /** The rule as iptables-save prints it, after `-A <chain> `. */
  spec: string;
  /** The `-j` target, when there is one. */
  target: string | undefined;
}

/** Chains the plugins share between all containers on the host (pruned only when empty). */
const SHARED_CHAINS = new Set(['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ', 'CNI-FORWARD', 'CNI-ADMIN', 'BERTH-ISOLATION']);

export async function listRules(table: Table): Promise<{ chains: Set<string>; rules: Rule[] }> {
  const text = await runChecked('iptables-save', ['-t', table]);
  const chains = new Set<string>();
  const rules: Rule[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) {
      chains.add(line.slice(1).split(' ')[0] ?? '');
    } else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      const chain = space < 0 ? rest : rest.slice(0, space);
      const spec = space < 0 ? '' : rest.slice(space + 1);
      const target = / -j (\S+)/.exec(` ${spec}`)?.[1];
      rules.push({ table, chain, spec, target });
    }
  }
  return { chains, rules };
}

async function restore(table: Table, lines: string[]): Promise<{ ok: boolean; error: string }> {
  if (lines.length === 0) return { ok: true, error: '' };
  const r = await runCommand('iptables-restore', ['--noflush'], { input: `*${table}\n${lines.join('\n')}\nCOMMIT\n` });
  return { ok: r.code === 0, error: r.stderr.trim() };
}

/**
 * Deletes the rules `match` selects, and the CNI per-container chains they jump to once
 * nothing else jumps there. Retried (bounded) when a concurrent edit makes the
 * transaction stale.
 */
export async function deleteRules(table: Table, match: (rule: Rule) => boolean): Promise<number> {
  let lastError = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    const { chains, rules } = await listRules(table);
    const doomed = rules.filter(match);
    if (doomed.length === 0) return 0;
    const dropChains = new Set<string>();
    for (const r of doomed) {
      if (r.target && r.target.startsWith('CNI-') && !SHARED_CHAINS.has(r.target) && chains.has(r.target)) dropChains.add(r.target);
    }
    // Keep a chain someone else still jumps to.
    for (const r of rules) {
      if (r.target && dropChains.has(r.target) && !doomed.includes(r) && !dropChains.has(r.chain)) dropChains.delete(r.target);
    }
    const lines: string[] = [];
    for (const r of doomed) if (!dropChains.has(r.chain)) lines.push(`-D ${r.chain} ${r.spec}`);
    for (const c of dropChains) lines.push(`-F ${c}`);
    for (const c of dropChains) lines.push(`-X ${c}`);
    const res = await restore(table, lines);
    if (res.ok) return doomed.length;
    lastError = res.error;
    await new Promise((r) => setTimeout(r, 50 + attempt * 100));
  }
  throw new BerthError('Internal', `cannot clean iptables ${table} rules: ${lastError}`);
}

/**
 * Removes portmap's and firewall's host-wide chains when no container uses them any
 * more. The chain deletion fails (and the transaction with it) if a rule appeared in
 * the meantime, so a concurrent ADD elsewhere is never broken by it.
 */
export async function pruneSharedChains(): Promise<void> {
  const nat = await listRules('nat');
  if (nat.chains.has('CNI-HOSTPORT-DNAT') && !nat.rules.some((r) => r.chain === 'CNI-HOSTPORT-DNAT')) {
    const lines: string[] = [];
    for (const r of nat.rules) {
      if (r.target && r.target.startsWith('CNI-HOSTPORT-') && !r.chain.startsWith('CNI-HOSTPORT-')) lines.push(`-D ${r.chain} ${r.spec}`);
    }
    for (const c of ['CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ']) if (nat.chains.has(c)) lines.push(`-F ${c}`);
    for (const c of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ']) if (nat.chains.has(c)) lines.push(`-X ${c}`);
    await restore('nat', lines); // "busy" means someone is using them again: leave them
  }
  const filter = await listRules('filter');
  const rulesIn = (chain: string) => filter.rules.filter((r) => r.chain === chain);
  const adminEmpty = rulesIn('CNI-ADMIN').length === 0;
  if (filter.chains.has('CNI-FORWARD') && rulesIn('CNI-FORWARD').every((r) => r.target === 'CNI-ADMIN') && adminEmpty) {
    const lines: string[] = [];
    for (const r of filter.rules) {
      if (r.target === 'CNI-FORWARD' || (r.target === 'CNI-ADMIN' && r.chain !== 'CNI-FORWARD')) lines.push(`-D ${r.chain} ${r.spec}`);
    }
    lines.push('-F CNI-FORWARD', '-X CNI-FORWARD');
    if (filter.chains.has('CNI-ADMIN')) lines.push('-X CNI-ADMIN');
    await restore('filter', lines);
  } else if (!filter.chains.has('CNI-FORWARD') && filter.chains.has('CNI-ADMIN') && adminEmpty && !filter.rules.some((r) => r.target === 'CNI-ADMIN')) {
    await restore('filter', ['-X CNI-ADMIN']);
  }
  if (filter.chains.has(ISOLATION_CHAIN) && !filter.rules.some((r) => r.target === ISOLATION_CHAIN) && rulesIn(ISOLATION_CHAIN).every((r) => r.target === 'RETURN')) {
    await restore('filter', [`-F ${ISOLATION_CHAIN}`, `-X ${ISOLATION_CHAIN}`]);
  }
}

/** Where Berth's bridges are told apart (Docker's DOCKER-ISOLATION-STAGE-2). */
export const ISOLATION_CHAIN = 'BERTH-ISOLATION';

/**
 * Isolates a bridge network from every other Berth network, as Docker does: traffic
 * forwarded from this bridge to another Berth bridge is dropped, except connections to
 * published ports (DNAT). Internal networks also get nothing forwarded in or out.
 *
 * The rules go into CNI-ADMIN, the chain the firewall plugin evaluates before its
 * per-container ACCEPTs ("admin overrides"). Idempotent.
 */
export async function isolateBridge(bridge: string, internal: boolean): Promise<void> {
  let lastError = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    const { chains, rules } = await listRules('filter');
    const lines: string[] = [];
    if (!chains.has('CNI-ADMIN')) lines.push(':CNI-ADMIN - [0:0]');
    if (!chains.has(ISOLATION_CHAIN)) {
      lines.push(`:${ISOLATION_CHAIN} - [0:0]`);
      lines.push(`-A ${ISOLATION_CHAIN} -m conntrack --ctstate DNAT -m comment --comment "berth: published ports cross networks" -j RETURN`);
    }
    const has = (chain: string, pred: (spec: string) => boolean) => rules.some((r) => r.chain === chain && pred(` ${r.spec} `));
    if (!has('CNI-ADMIN', (x) => x.includes(` -i ${bridge} `) && x.includes(`-j ${ISOLATION_CHAIN} `))) {
      lines.push(`-A CNI-ADMIN -i ${bridge} ! -o ${bridge} -m comment --comment "berth isolation" -j ${ISOLATION_CHAIN}`);
    }
    if (!has(ISOLATION_CHAIN, (x) => x.includes(` -o ${bridge} `))) {
      lines.push(`-A ${ISOLATION_CHAIN} -o ${bridge} -m comment --comment "berth isolation" -j DROP`);
    }
    if (internal) {
      if (!has('CNI-ADMIN', (x) => x.includes(` -i ${bridge} `) && x.includes('-j DROP '))) {
        lines.push(`-A CNI-ADMIN -i ${bridge} ! -o ${bridge} -m comment --comment "berth internal network" -j DROP`);
      }
      if (!has('CNI-ADMIN', (x) => x.includes(` -o ${bridge} `) && x.includes('-j DROP '))) {
        lines.push(`-A CNI-ADMIN ! -i ${bridge} -o ${bridge} -m comment --comment "berth internal network" -j DROP`);
      }
    }
    const res = await restore('filter', lines);
    if (res.ok) return;
    lastError = res.error;
    await new Promise((r) => setTimeout(r, 50 + attempt * 100));
  }
  throw new BerthError('Internal', `cannot isolate bridge ${bridge}: ${lastError}`);
}

/** A host port that portmap already forwards (from any CNI user on this host). */
export interface ForwardedPort {
  hostIp: string;
  hostPort: number;
  protocol: 'tcp' | 'udp';
}

/** The ports portmap currently DNATs, read from its per-container CNI-DN-* chains. */
export async function listForwardedPorts(): Promise<ForwardedPort[]> {
  const { rules } = await listRules('nat');
  const out: ForwardedPort[] = [];
  for (const r of rules) {
    if (!r.chain.startsWith('CNI-DN-') || r.target !== 'DNAT') continue;
    const proto = / -p (tcp|udp) /.exec(` ${r.spec}`)?.[1];
    const port = / --dport (\d+)/.exec(` ${r.spec}`)?.[1];
    if (!proto || !port) continue;
    const dst = / -d (\d+\.\d+\.\d+\.\d+)\/32/.exec(` ${r.spec}`)?.[1] ?? '';
    out.push({ hostIp: dst, hostPort: Number(port), protocol: proto as 'tcp' | 'udp' });
  }
  return out;
}
