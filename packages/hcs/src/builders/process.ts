import { InvalidArgumentError } from '@berth/image-format';
import type { ContainerSpec, ExecSpec, UserSpec } from '@berth/runtime';
import type { ProcessParameters } from '../types.js';
import { joinCommandLine } from './commandline.js';

export type GuestOs = 'windows' | 'linux';

/** Image env, then the process' (same key replaced; Windows keys compare case-insensitively). */
export function mergeEnvironment(image: string[] = [], own: string[] = [], os: GuestOs = 'windows'): Map<string, string> {
  const out = new Map<string, [string, string]>();
  for (const e of [...image, ...own]) {
    const eq = e.indexOf('=');
    const key = eq < 0 ? e : e.slice(0, eq);
    out.set(os === 'windows' ? key.toUpperCase() : key, [key, eq < 0 ? '' : e.slice(eq + 1)]);
  }
  return new Map([...out.values()]);
}

export function userString(user: UserSpec | undefined): string | undefined {
  if (user === undefined || user === '') return undefined;
  if (typeof user === 'string') return user;
  return `${user.uid}:${user.gid}`;
}

export interface ProcessInput {
  args: string[];
  env?: string[];
  cwd?: string;
  user?: UserSpec;
  tty?: boolean;
  stdin?: boolean;
  terminalSize?: { height: number; width: number };
}

/**
 * ProcessParameters of HcsCreateProcess as hcsshim's internal/cmd builds them for a
 * Windows guest: escaped CommandLine, env merged (image first) with empty values dropped
 * and keys sorted (Go map order), EmulateConsole for a tty (stderr then merged),
 * ConsoleSize [height, width].
 */
export function processParameters(spec: Pick<ContainerSpec, 'image'>, p: ProcessInput, os: GuestOs = 'windows'): ProcessParameters {
  if (p.args.length === 0) throw new InvalidArgumentError('process.args must not be empty');
  const env = mergeEnvironment(spec.image?.env, p.env, os);
  const environment: Record<string, string> = {};
  for (const key of [...env.keys()].sort()) {
    const v = env.get(key)!;
    if (v !== '') environment[key] = v;
  }
  const user = userString(p.user ?? spec.image?.user);
  const cwd = p.cwd || spec.image?.workingDir || (os === 'windows' ? 'C:\\' : '/');
  const doc: ProcessParameters = {
    CommandLine: joinCommandLine(p.args),
    ...(os === 'linux' ? { CommandArgs: [...p.args] } : {}),
    ...(user !== undefined ? { User: user } : {}),
    WorkingDirectory: cwd,
    Environment: environment,
    ...(p.tty ? { EmulateConsole: true } : {}),
    ...(p.stdin ? { CreateStdInPipe: true } : {}),
    CreateStdOutPipe: true,
    ...(p.tty ? {} : { CreateStdErrPipe: true }),
  };
  if (p.tty) doc.ConsoleSize = [p.terminalSize?.height ?? 25, p.terminalSize?.width ?? 80];
  return doc;
}

/** The container's init process. */
export function initProcessParameters(spec: ContainerSpec, os: GuestOs = 'windows'): ProcessParameters {
  return processParameters(spec, spec.process, os);
}

/** An exec into a running container (image defaults still apply). */
export function execProcessParameters(spec: ContainerSpec, exec: ExecSpec, os: GuestOs = 'windows'): ProcessParameters {
  return processParameters(spec, { ...exec, user: exec.user ?? spec.process.user }, os);
}
