// Building the whole command tree (about 150 commands and 600 options, commander checking
// each new option against its siblings) costs 10-20 ms: more than `berth ps` itself. A
// command line that names a top-level command gets a tree with that command alone.
import type { Command } from 'commander';

/** Global options that take a value (cli.ts defines them), in every spelling commander reads. */
const GLOBAL_WITH_VALUE = new Set(['-H', '--host', '-l', '--log-level']);
const GLOBAL_FLAGS = new Set(['-D', '--debug']);

/**
 * The top-level command `argv` names, past the global options; undefined when the line
 * needs the whole tree to be answered as commander would (no command, --help, --version,
 * an unknown or combined option).
 */
export function namedCommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') return arg;
    if (GLOBAL_FLAGS.has(arg)) continue;
    if (GLOBAL_WITH_VALUE.has(arg)) {
      i++; // commander takes the next word as the value, whatever it looks like
      continue;
    }
    if (/^--(host|log-level)=/.test(arg) || /^-[Hl]./.test(arg)) continue;
    return undefined;
  }
  return undefined;
}

/**
 * `parent` as the command-registering functions see it, where `.command(name)` adds only
 * the command called `only`: any other is a stand-in on which every call (options,
 * actions, subcommands) does nothing. The registering code stays as it is, and
 * the command that is added is built by the same calls as in the whole tree.
 */
export function onlyCommand(parent: Command, only: string): Command {
  const standIn: Command = new Proxy(function standIn() {}, { get: () => () => standIn }) as unknown as Command;
  return new Proxy(parent, {
    get(target, prop) {
      if (prop !== 'command') return Reflect.get(target, prop, target) as unknown;
      return (nameAndArgs: string, ...rest: unknown[]) =>
        nameAndArgs.split(' ')[0] === only ? (target.command as (...a: unknown[]) => Command)(nameAndArgs, ...rest) : standIn;
    },
  });
}
