/*
 * Helpers for the networking tests (not exported from the package): unique names,
 * free ports and subnets, processes inside a netns, and the "nothing left behind" probe.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { listHostRoutes } from './host-links.js';
import { cidrsOverlap, parseCidr } from './ipv4.js';
import { runCommand, runChecked } from './run-command.js';

export function uniqueBridge(): string {
  return `bt${randomBytes(5).toString('hex')}`;
}

export function uniqueId(prefix = 'ctr'): string {
  return `${prefix}${randomBytes(8).toString('hex')}`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A random 10.213.x.0/24 that no host route overlaps right now. */
export async function freeSubnet(): Promise<string> {
  const routes = await listHostRoutes();
  for (let i = 0; i < 50; i++) {
    const candidate = `10.213.${Math.floor(Math.random() * 256)}.0/24`;
    const c = parseCidr(candidate);
    if (!routes.some((r) => cidrsOverlap(r.dst, c))) return candidate;
  }
  throw new Error('no free 10.213.x.0/24 subnet');
}

/** Starts a process in the network namespace only (host filesystem); kill it by PID. */
export function spawnInNetns(netnsPath: string, argv: string[]): ChildProcess {
  return spawn('nsenter', [`--net=${netnsPath}`, ...argv], { stdio: 'ignore' });
}

export function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(child.pid as number, 'SIGKILL');
  });
}

export async function execInNetns(netnsPath: string, argv: string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCommand('nsenter', [`--net=${netnsPath}`, ...argv], { timeoutMs });
}

function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout GET ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** GETs until it answers 200 (bounded: `attempts` tries, 100 ms apart). */
export async function httpGetEventually(url: string, attempts = 50): Promise<string> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const r = await httpGet(url);
      if (r.status === 200) return r.body;
      last = new Error(`status ${r.status}`);
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer from ${url}: ${String(last)}`);
}

/** Runs a command in a netns until it exits 0 (bounded), returning its stdout. */
export async function execInNetnsEventually(netnsPath: string, argv: string[], attempts = 30): Promise<string> {
  let last = '';
  for (let i = 0; i < attempts; i++) {
    const r = await execInNetns(netnsPath, argv);
    if (r.code === 0) return r.stdout;
    last = r.stderr || `exit ${r.code}`;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${argv.join(' ')} kept failing: ${last}`);
}

interface Leftovers {
  links: string[];
  netns: string[];
  rules: string[];
}

/**
 * What is left on the host that carries one of these names: links named like a bridge
 * or enslaved to one, files in the netns dirs, iptables lines naming a bridge, a
 * container id or an address in one of the subnets.
 */
export async function findLeftovers(names: { bridges: string[]; containerIds: string[]; subnets: string[]; netnsDirs: string[] }): Promise<Leftovers> {
  const links = JSON.parse(await runChecked('ip', ['-j', 'link', 'show'])) as { ifname: string; master?: string }[];
  const leftLinks = links
    .filter((l) => names.bridges.includes(l.ifname) || (l.master !== undefined && names.bridges.includes(l.master)))
    .map((l) => l.ifname);
  const netns: string[] = [];
  for (const d of names.netnsDirs) {
    try {
      for (const f of await readdir(d)) netns.push(`${d}/${f}`);
    } catch {
      // directory gone: nothing left
    }
  }
  const mounts = await runChecked('cat', ['/proc/self/mountinfo']);
  for (const d of names.netnsDirs) if (mounts.includes(` ${d}/`)) netns.push(`mount under ${d}`);
  const subnets = names.subnets.map((s) => parseCidr(s));
  const rules: string[] = [];
  for (const table of ['nat', 'filter']) {
    const text = await runChecked('iptables-save', ['-t', table]);
    for (const line of text.split('\n')) {
      if (line.startsWith('#')) continue;
      const hit =
        names.bridges.some((b) => line.includes(` ${b} `) || line.endsWith(` ${b}`)) ||
        names.containerIds.some((id) => line.includes(id)) ||
        [...line.matchAll(/(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/g)].some((m) => subnets.some((s) => cidrsOverlap(s, parseCidr(`${m[1]}/32`, 'rule', false))));
      if (hit) rules.push(`${table}: ${line}`);
    }
  }
  return { links: leftLinks, netns, rules };
}
