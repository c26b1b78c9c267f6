// `berth completion bash|zsh`: completion scripts generated from the command tree, so
// they always list the commands and flags this build has. Container, image, volume
// and network names are completed by asking the daemon (`berth ps -a --format`...).
import type { Command } from 'commander';
import { InvalidArgumentError } from '@berth/image-format';

interface Entry {
  path: string;
  subcommands: string[];
  flags: string[];
}

function entries(cmd: Command, prefix: string[] = []): Entry[] {
  const path = prefix.join(' ');
  const subs = cmd.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  const flags = cmd.options.flatMap((o) => [o.short, o.long].filter((x): x is string => Boolean(x)));
  const own: Entry = { path, subcommands: subs, flags: [...flags, '--help'] };
  return [own, ...cmd.commands.flatMap((c) => [c.name(), ...c.aliases()].flatMap((n) => entries(c, [...prefix, n])))];
}

const DYNAMIC: Record<string, string> = {
  containers: "berth ps -a --format '{{.Names}}' 2>/dev/null",
  images: "berth images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>'",
  volumes: "berth volume ls -q 2>/dev/null",
  networks: "berth network ls --format '{{.Name}}' 2>/dev/null",
};

function dynamicFor(path: string): string | undefined {
  const last = path.split(' ').pop() ?? '';
  const parent = path.split(' ')[0] ?? '';
  if (['run', 'create', 'pull', 'push', 'rmi', 'tag', 'save', 'history'].includes(last) && parent !== 'volume' && parent !== 'network') {
    return last === 'run' || last === 'create' || last === 'pull' || last === 'push' || last === 'rmi' || last === 'tag' || last === 'save' || last === 'history' ? 'images' : undefined;
  }
  if (parent === 'volume' && ['rm', 'remove', 'inspect'].includes(last)) return 'volumes';
  if (parent === 'network' && ['rm', 'remove', 'inspect', 'connect', 'disconnect'].includes(last)) return 'networks';
  if (['start', 'stop', 'restart', 'kill', 'rm', 'logs', 'exec', 'attach', 'inspect', 'wait', 'stats', 'export', 'cp', 'commit', 'rename', 'pause', 'unpause', 'top', 'port'].includes(last)) {
    return parent === 'image' ? 'images' : 'containers';
  }
  return undefined;
}

export function completionScript(shell: string, program: Command): string {
  const all = entries(program);
  if (shell === 'bash') return bash(all);
  if (shell === 'zsh') return zsh(all);
  throw new InvalidArgumentError(`unsupported shell "${shell}": use bash or zsh`);
}

function caseArms(all: Entry[], indent: string): string {
  return all
    .map((e) => {
      const words = [...e.subcommands, ...e.flags].join(' ');
      const dyn = dynamicFor(e.path);
      const dynPart = dyn ? ` $(${DYNAMIC[dyn]})` : '';
      return `${indent}${JSON.stringify(e.path)}) words="${words}${dynPart.replace(/"/g, '\\"')}" ;;`;
    })
    .join('\n');
}

function bash(all: Entry[]): string {
  const paths = all.map((e) => e.path).filter(Boolean);
  return `# bash completion for berth; load with: source <(berth completion bash)
_berth_complete() {
  local cur path="" w i words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    case " ${paths.map((p) => p.replace(/ /g, '_')).join(' ')} " in
      *" \${path:+\${path}_}$w "*) path="\${path:+$path }$w" ;;
    esac
  done
  case "$path" in
${caseArms(all, '    ')}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _berth_complete berth
`;
}

function zsh(all: Entry[]): string {
  return `#compdef berth
# zsh completion for berth; load with: source <(berth completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash(all).split('\n').slice(1).join('\n')}`;
}
