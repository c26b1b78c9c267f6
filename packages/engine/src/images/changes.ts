import { InvalidArgumentError } from '@berth/image-format';
import type { ImageConfigLike } from '../container-config.js';

type Cfg = NonNullable<ImageConfigLike['config']> & { StopSignal?: string };

/** Applies `docker commit --change` / `docker import --change` Dockerfile instructions to a config. */
export function applyChanges(config: Cfg, changes: readonly string[] | undefined): Cfg {
  const out: Cfg = { ...config };
  for (const raw of changes ?? []) {
    for (const line of raw.split('\n')) {
      const m = /^\s*(\w+)\s+([\s\S]*?)\s*$/.exec(line);
      if (!line.trim()) continue;
      if (!m) throw new InvalidArgumentError(`dockerfile parse error: ${line}`);
      const instr = m[1]!.toUpperCase();
      const arg = m[2]!;
      const list = (): string[] => {
        if (arg.startsWith('[')) {
          try {
            const v = JSON.parse(arg) as unknown;
            if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
          } catch {
            // shell form
          }
        }
        return ['/bin/sh', '-c', arg];
      };
      const pairs = (): [string, string][] => {
        if (!arg.includes('=')) {
          const sp = arg.indexOf(' ');
          return sp < 0 ? [[arg, '']] : [[arg.slice(0, sp), arg.slice(sp + 1)]];
        }
        return (arg.match(/(?:[^\s"]+|"[^"]*")+/g) ?? []).map((kv) => {
          const eq = kv.indexOf('=');
          const k = kv.slice(0, eq);
          const v = kv.slice(eq + 1).replace(/^"(.*)"$/, '$1');
          return [k, v];
        });
      };
      switch (instr) {
        case 'CMD':
          out.Cmd = list();
          break;
        case 'ENTRYPOINT':
          out.Entrypoint = list();
          break;
        case 'ENV': {
          let env = [...(out.Env ?? [])];
          for (const [k, v] of pairs()) env = [...env.filter((e) => !e.startsWith(k + '=')), `${k}=${v}`];
          out.Env = env;
          break;
        }
        case 'LABEL':
          out.Labels = { ...(out.Labels ?? {}), ...Object.fromEntries(pairs()) };
          break;
        case 'WORKDIR':
          out.WorkingDir = arg;
          break;
        case 'USER':
          out.User = arg;
          break;
        case 'EXPOSE': {
          const ports = { ...(out.ExposedPorts ?? {}) };
          for (const p of arg.split(/\s+/)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
          out.ExposedPorts = ports;
          break;
        }
        case 'VOLUME': {
          const vols = { ...(out.Volumes ?? {}) };
          const paths = arg.startsWith('[') ? (JSON.parse(arg) as string[]) : arg.split(/\s+/);
          for (const p of paths) vols[p] = {};
          out.Volumes = vols;
          break;
        }
        case 'STOPSIGNAL':
          out.StopSignal = arg;
          break;
        case 'ONBUILD':
          out.OnBuild = [...(out.OnBuild ?? []), arg];
          break;
        default:
          throw new InvalidArgumentError(`${instr} is not a valid change command`);
      }
    }
  }
  return out;
}
