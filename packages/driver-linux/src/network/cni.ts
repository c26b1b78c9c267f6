import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, UnsupportedError } from '@berth/image-format';
import { runCommand } from './run-command.js';

/** The CNI spec version Berth writes; Debian's plugins (1.1.x) speak 0.1.0 to 1.0.0. */
export const CNI_VERSION = '1.0.0';

/** One plugin's config as sent on stdin (name and cniVersion are filled in per call). */
export type PluginConfig = { type: string } & Record<string, unknown>;

/** The subset of a CNI 1.0 result Berth reads. */
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { interface?: number; address: string; gateway?: string }[];
  routes?: { dst: string; gw?: string }[];
  dns?: unknown;
}

export interface PluginCall {
  command: 'ADD' | 'DEL' | 'CHECK';
  containerId: string;
  /** Path of the netns; empty on DEL when it is already gone. */
  netns: string;
  ifname: string;
  networkName: string;
  config: PluginConfig;
  prevResult?: CniResult;
  /** Sent as the `runtimeConfig` key (capability args such as portMappings). */
  runtimeConfig?: Record<string, unknown>;
}

export class CniPluginError extends BerthError {
  readonly plugin: string;
  readonly cniCode: number | undefined;
  constructor(plugin: string, command: string, message: string, cniCode?: number) {
    super('Internal', `CNI ${plugin} ${command} failed: ${message}`);
    this.plugin = plugin;
    this.cniCode = cniCode;
  }
}

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Executes CNI plugins found in `pluginDirs` by the CNI exec protocol. */
export class CniExecutor {
  private readonly found = new Map<string, string>();
  constructor(readonly pluginDirs: readonly string[]) {}

  async findPlugin(type: string): Promise<string> {
    if (!/^[a-z0-9][a-z0-9_-]*$/i.test(type)) throw new UnsupportedError(`invalid CNI plugin type ${JSON.stringify(type)}`);
    const cached = this.found.get(type);
    if (cached) return cached;
    for (const dir of this.pluginDirs) {
      const candidate = join(dir, type);
      try {
        await access(candidate, constants.X_OK);
        this.found.set(type, candidate);
        return candidate;
      } catch {
        // try the next directory
      }
    }
    throw new UnsupportedError(`CNI plugin ${type} not found in ${this.pluginDirs.join(', ')} (install containernetworking-plugins)`);
  }

  async exec(call: PluginCall): Promise<CniResult | undefined> {
    const binary = await this.findPlugin(call.config.type);
    const stdin: Record<string, unknown> = { ...call.config, cniVersion: CNI_VERSION, name: call.networkName };
    if (call.runtimeConfig) stdin.runtimeConfig = call.runtimeConfig;
    if (call.prevResult) stdin.prevResult = call.prevResult;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ? `${process.env.PATH}:${SYSTEM_PATH}` : SYSTEM_PATH,
      CNI_COMMAND: call.command,
      CNI_CONTAINERID: call.containerId,
      CNI_NETNS: call.netns,
      CNI_IFNAME: call.ifname,
      CNI_PATH: this.pluginDirs.join(':'),
    };
    const r = await runCommand(binary, [], { input: JSON.stringify(stdin), env, timeoutMs: 60_000 });
    if (r.code !== 0) {
      let message = (r.stderr || r.stdout).trim();
      let code: number | undefined;
      try {
        const parsed = JSON.parse(r.stdout) as { code?: number; msg?: string; details?: string };
        code = parsed.code;
        message = [parsed.msg, parsed.details].filter(Boolean).join(': ') || message;
      } catch {
        // not a CNI error object; keep the raw text
      }
      throw new CniPluginError(call.config.type, call.command, message, code);
    }
    if (call.command !== 'ADD') return undefined;
    try {
      return JSON.parse(r.stdout) as CniResult;
    } catch (e) {
      throw new CniPluginError(call.config.type, call.command, `unparseable result: ${r.stdout.slice(0, 200)}`);
    }
  }
}
