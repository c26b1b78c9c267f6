import { BerthError } from '@berth/image-format';
import { runCommand, runChecked } from './run-command.js';

/*
 * iptables housekeeping the CNI plugins leave to their caller. Every change is one
 * `iptables-restore --noflush` transaction built from a fresh `iptables-save`, so it
 * applies whole or not at all (nf_tables) even while other processes edit the tables.
 */

type Table = 'nat' | 'filter';

interface Rule {
  table: Table;
  chain: string;
  /** The rule as iptables-save prints it, after `-A <chain> `. */
  spec: string;
  /** The `-j` target, when there is one. */
  target: string | undefined;
}

/** Chains the plugins share between all containers on the host (pruned only when empty). */
const SHARED_CHAINS = new Set(['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ', 'CNI-FORWARD', 'CNI-ADMIN', 'BERTH-ISOLATION', 'BERTH-FORWARD', 'BERTH-POSTROUTING']);

async function listRules(table: Table): Promise<{ chains: Set<string>; rules: Rule[] }> {
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
export async function deleteRules(table: Table, match: (rule: Rule) => boolean, options: { pruneHostport?: boolean } = {}): Promise<number> {
  let lastError = '';
  let prune = options.pruneHostport === true && table === 'nat';
  for (let attempt = 0; attempt < 4; attempt++) {
    const { chains, rules } = await listRules(table);
    const doomed = rules.filter(match);
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
    // The same transaction drops portmap's shared chains when this empties them.
    const pruning = prune ? hostportPruneLines(chains, rules.filter((r) => !doomed.includes(r) && !dropChains.has(r.chain))) : [];
    if (lines.length === 0 && pruning.length === 0) return 0;
    const res = await restore(table, [...lines, ...pruning]);
    if (res.ok) return doomed.length;
    lastError = res.error;
    // A chain in use again ("busy") must not block the container's own rules: retry without.
    if (pruning.length > 0) prune = false;
    await new Promise((r) => setTimeout(r, 50 + attempt * 100));
  }
  throw new BerthError('Internal', `cannot clean iptables ${table} rules: ${lastError}`);
}

/** Lines deleting portmap's CNI-HOSTPORT-* chains and their jumps, when CNI-HOSTPORT-DNAT has no rule in `rules`. */
function hostportPruneLines(chains: Set<string>, rules: Rule[]): string[] {
  if (!chains.has('CNI-HOSTPORT-DNAT') || rules.some((r) => r.chain === 'CNI-HOSTPORT-DNAT')) return [];
  const lines: string[] = [];
  for (const r of rules) {
    if (r.target && r.target.startsWith('CNI-HOSTPORT-') && !r.chain.startsWith('CNI-HOSTPORT-')) lines.push(`-D ${r.chain} ${r.spec}`);
  }
  for (const c of ['CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ']) if (chains.has(c)) lines.push(`-F ${c}`);
  for (const c of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ']) if (chains.has(c)) lines.push(`-X ${c}`);
  return lines;
}

/**
 * Removes portmap's and firewall's host-wide chains when no container uses them any
 * more. The chain deletion fails (and the transaction with it) if a rule appeared in
 * the meantime, so a concurrent ADD elsewhere is never broken by it.
 */
export async function pruneSharedChains(options: { nat?: boolean; filter?: boolean } = {}): Promise<void> {
  if (options.nat !== false) {
    const nat = await listRules('nat');
    await restore('nat', hostportPruneLines(nat.chains, nat.rules)); // "busy" means someone is using them again: leave them
  }
  // The filter chains are the firewall plugin's: callers that never ran it skip a pass.
  if (options.filter === false) return;
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
}

/** Where Berth's bridges are told apart (Docker's DOCKER-ISOLATION-STAGE-2). */
const ISOLATION_CHAIN = 'BERTH-ISOLATION';
/** Berth's forwarding policy for its bridges, jumped to first from FORWARD. */
const FORWARD_CHAIN = 'BERTH-FORWARD';
/** Berth's per-network masquerading, jumped to from POSTROUTING. */
const POSTROUTING_CHAIN = 'BERTH-POSTROUTING';

/**
 * Installs a network's host rules once, when the network is created (and again by the
 * startup sweep), so attaching a container needs no iptables change at all unless it
 * publishes ports. This replaces what the CNI firewall plugin and the bridge plugin's
 * ipMasq did per container (Docker does the same per network):
 *
 * - filter BERTH-FORWARD (first in FORWARD, so a DROP policy next to dockerd is fine):
 *   drops at the top (traffic from this bridge to another Berth bridge goes through
 *   BERTH-ISOLATION, which lets DNATed connections, i.e. published ports, through;
 *   internal networks forward nothing in or out), accepts appended below them.
 * - nat BERTH-POSTROUTING: masquerade what leaves a non-internal subnet by another device.
 *
 * One iptables-restore per table; idempotent. Rules this bridge had in CNI-ADMIN (how
 * earlier versions isolated) are dropped in the same transaction.
 */
export async function installNetworkRules(bridge: string, subnet: string, internal: boolean): Promise<void> {
  let lastError = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    const { chains, rules } = await listRules('filter');
    const has = (chain: string, pred: (spec: string) => boolean) => rules.some((r) => r.chain === chain && pred(` ${r.spec} `));
    const lines: string[] = [];
    if (!chains.has(ISOLATION_CHAIN)) {
      lines.push(`:${ISOLATION_CHAIN} - [0:0]`);
      lines.push(`-A ${ISOLATION_CHAIN} -m conntrack --ctstate DNAT -m comment --comment "berth: published ports cross networks" -j RETURN`);
    }
    if (!chains.has(FORWARD_CHAIN)) lines.push(`:${FORWARD_CHAIN} - [0:0]`);
    if (!rules.some((r) => r.chain === 'FORWARD' && r.target === FORWARD_CHAIN)) {
      lines.push(`-I FORWARD 1 -m comment --comment "berth networks" -j ${FORWARD_CHAIN}`);
    }
    const drops: string[] = [];
    if (!has(FORWARD_CHAIN, (x) => x.includes(` -i ${bridge} `) && x.includes(`-j ${ISOLATION_CHAIN} `))) {
      drops.push(`-i ${bridge} ! -o ${bridge} -m comment --comment "berth isolation" -j ${ISOLATION_CHAIN}`);
    }
    if (internal) {
      if (!has(FORWARD_CHAIN, (x) => x.includes(` -i ${bridge} ! -o `) && x.includes('-j DROP '))) {
        drops.push(`-i ${bridge} ! -o ${bridge} -m comment --comment "berth internal network" -j DROP`);
      }
      if (!has(FORWARD_CHAIN, (x) => x.includes(` ! -i ${bridge} -o ${bridge} `) && x.includes('-j DROP '))) {
        drops.push(`! -i ${bridge} -o ${bridge} -m comment --comment "berth internal network" -j DROP`);
      }
    }
    for (const d of drops) lines.push(`-I ${FORWARD_CHAIN} 1 ${d}`);
    if (!has(FORWARD_CHAIN, (x) => x.includes(` -o ${bridge} `) && x.includes('RELATED,ESTABLISHED') && x.includes('-j ACCEPT '))) {
      lines.push(`-A ${FORWARD_CHAIN} -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "berth network" -j ACCEPT`);
    }
    if (!has(FORWARD_CHAIN, (x) => x.startsWith(` -i ${bridge} `) && x.includes('-j ACCEPT '))) {
      lines.push(`-A ${FORWARD_CHAIN} -i ${bridge} -m comment --comment "berth network" -j ACCEPT`);
    }
    if (!has(ISOLATION_CHAIN, (x) => x.includes(` -o ${bridge} `))) {
      lines.push(`-A ${ISOLATION_CHAIN} -o ${bridge} -m comment --comment "berth isolation" -j DROP`);
    }
    for (const r of rules) {
      if (r.chain === 'CNI-ADMIN' && r.spec.includes('berth') && new RegExp(`(^| )-[io] ${bridge.replace(/\./g, '\\.')}( |$)`).test(r.spec)) lines.push(`-D CNI-ADMIN ${r.spec}`);
    }
    const res = await restore('filter', lines);
    if (res.ok) {
      lastError = '';
      break;
    }
    lastError = res.error;
    await new Promise((r) => setTimeout(r, 50 + attempt * 100));
  }
  if (lastError) throw new BerthError('Internal', `cannot install the rules of bridge ${bridge}: ${lastError}`);
  if (internal) return;
  for (let attempt = 0; attempt < 4; attempt++) {
    const { chains, rules } = await listRules('nat');
    const lines: string[] = [];
    if (!chains.has(POSTROUTING_CHAIN)) lines.push(`:${POSTROUTING_CHAIN} - [0:0]`);
    if (!rules.some((r) => r.chain === 'POSTROUTING' && r.target === POSTROUTING_CHAIN)) {
      lines.push(`-I POSTROUTING 1 -m comment --comment "berth networks" -j ${POSTROUTING_CHAIN}`);
    }
    if (!rules.some((r) => r.chain === POSTROUTING_CHAIN && ` ${r.spec} `.includes(` ! -o ${bridge} `))) {
      lines.push(`-A ${POSTROUTING_CHAIN} -s ${subnet} ! -d 224.0.0.0/4 ! -o ${bridge} -m comment --comment "berth network" -j MASQUERADE`);
    }
    const res = await restore('nat', lines);
    if (res.ok) return;
    lastError = res.error;
    await new Promise((r) => setTimeout(r, 50 + attempt * 100));
  }
  throw new BerthError('Internal', `cannot install the masquerade rule of bridge ${bridge}: ${lastError}`);
}

/** Removes Berth's own chains (and the jumps to them) once no network has rules in them. */
export async function pruneBerthChains(): Promise<void> {
  const filter = await listRules('filter');
  const lines: string[] = [];
  if (filter.chains.has(FORWARD_CHAIN) && !filter.rules.some((r) => r.chain === FORWARD_CHAIN)) {
    for (const r of filter.rules) if (r.target === FORWARD_CHAIN) lines.push(`-D ${r.chain} ${r.spec}`);
    lines.push(`-X ${FORWARD_CHAIN}`);
  }
  const isolationJumps = filter.rules.filter((r) => r.target === ISOLATION_CHAIN);
  if (
    filter.chains.has(ISOLATION_CHAIN) &&
    filter.rules.filter((r) => r.chain === ISOLATION_CHAIN).every((r) => r.target === 'RETURN') &&
    isolationJumps.every((r) => r.chain === ISOLATION_CHAIN)
  ) {
    lines.push(`-F ${ISOLATION_CHAIN}`, `-X ${ISOLATION_CHAIN}`);
  }
  await restore('filter', lines); // fails whole if a network appeared meanwhile: then it stays
  const nat = await listRules('nat');
  if (nat.chains.has(POSTROUTING_CHAIN) && !nat.rules.some((r) => r.chain === POSTROUTING_CHAIN)) {
    const natLines = nat.rules.filter((r) => r.target === POSTROUTING_CHAIN).map((r) => `-D ${r.chain} ${r.spec}`);
    natLines.push(`-X ${POSTROUTING_CHAIN}`);
    await restore('nat', natLines);
  }
}

/** A host port that portmap already forwards (from any CNI user on this host). */
interface ForwardedPort {
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
