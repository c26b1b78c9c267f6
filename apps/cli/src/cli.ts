// The `berth` command tree: docker's command names, flags and exit codes, over commander.
import { Command, CommanderError } from 'commander';
import { Context, StatusError, errorMessage, type Streams } from './context.js';
import { BERTH_BUILD, BERTH_VERSION } from './version.js';
import type { Act } from './program/act.js';
import { containerCommands } from './program/containers.js';
import { imageCommands } from './program/images.js';
import { volumeCommands } from './program/volumes.js';
import { networkCommands } from './program/networks.js';
import { inspectCommand, systemCommands } from './program/system.js';
import { namedCommand, onlyCommand } from './program/only.js';

/** Everything a command's action needs to report back. */
interface RunState {
  code: number;
  ctx: Context | undefined;
  hostFlag: () => string | undefined;
  io: Streams;
}

/**
 * Builds the program; `state` receives the exit code and the context. With `only`, the
 * tree holds that top-level command alone (see program/only.ts), if it is one.
 */
export function buildProgram(state: RunState, only?: string): Command {
  const program = new Command('berth');
  const act: Act =
    <A extends unknown[]>(load: () => Promise<(ctx: Context, ...args: A) => Promise<number>>) =>
    async (...args: A): Promise<void> => {
      const ctx = new Context(state.hostFlag(), state.io);
      state.ctx = ctx;
      const fn = await load();
      state.code = await fn(ctx, ...args);
    };
  // Set before any subcommand exists: commander copies output settings at creation.
  program.configureOutput({
    writeOut: (s) => state.io.stdout.write(s),
    writeErr: (s) => state.io.stderr.write(s),
  });
  program
    .description('A self-sufficient runtime for containers')
    .usage('[OPTIONS] COMMAND')
    .enablePositionalOptions()
    .option('-H, --host <host>', 'Daemon socket to connect to (default unix:///run/berth/berthd.sock, or BERTH_HOST)')
    .option('-D, --debug', 'Enable debug mode')
    .option('-l, --log-level <string>', 'Set the logging level ("debug", "info", "warn", "error", "fatal")', 'info')
    .version(`Berth version ${BERTH_VERSION}, build ${BERTH_BUILD}`, '-v, --version', 'Print version information and quit')
    .helpOption('--help', 'Print usage')
    .showSuggestionAfterError(true);

  const top = only === undefined ? program : onlyCommand(program, only);
  containerCommands(top, act);
  imageCommands(top, false, act);
  containerCommands(top.command('container').description('Manage containers'), act, 'container');
  imageCommands(top.command('image').description('Manage images'), true, act);
  inspectCommand(top, act);
  volumeCommands(top, act);
  networkCommands(top, act);
  systemCommands(top, act);
  // it prints the whole tree: never alone
  if (only === undefined) {
    program
      .command('completion')
      .description('Print a shell completion script (bash or zsh)')
      .argument('<shell>')
      .action(async (shell: string) => {
        const { completionScript } = await import('./completion.js');
        state.io.stdout.write(completionScript(shell, program));
        state.code = 0;
      });
  }

  for (const cmd of allCommands(program)) {
    cmd.helpOption('--help', 'Print usage');
    cmd.exitOverride();
  }
  return program;
}

/** Every command of the tree, depth first. */
function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap((c) => allCommands(c))];
}

/** Runs the CLI with `argv` (no node/script prefix); resolves with the exit code. */
export async function runCli(argv: string[], io: Streams = processStreams()): Promise<number> {
  const state: RunState = { code: 0, ctx: undefined, hostFlag: () => undefined, io };
  const name = namedCommand(argv);
  let program = buildProgram(state, name);
  // not a top-level command (a typo to suggest a fix for, `help`): the whole tree answers
  if (name !== undefined && !program.commands.some((c) => c.name() === name)) program = buildProgram(state);
  state.hostFlag = () => program.opts<{ host?: string }>().host;
  let commandName = '';
  program.hook('preAction', (_this, action) => {
    commandName = action.name();
  });
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync(argv, { from: 'user' });
    return state.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      // Flag and argument errors: docker exits 125.
      return 125;
    }
    if (err instanceof StatusError) {
      io.stderr.write(err.status === 1 ? `${err.message}\n` : `berth: ${err.message}\n`);
      if (err.status === 125 && (commandName === 'run' || commandName === 'create')) io.stderr.write(`\nRun 'berth ${commandName} --help' for more information\n`);
      return err.status;
    }
    io.stderr.write(`${errorMessage(err)}\n`);
    return 1;
  } finally {
    await state.ctx?.close();
  }
}

/**
 * The process's streams; stdin only when a command reads it: making process.stdin loads
 * node's fs streams (and fs/promises, readline), a few ms `berth ps` has no use for.
 */
function processStreams(): Streams {
  return {
    get stdin() {
      return process.stdin;
    },
    stdout: process.stdout,
    stderr: process.stderr,
  };
}
