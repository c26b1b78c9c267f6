// `berth run`, `ps`, `logs`... and the same under `berth container` (prefix: ls, rm aliases, inspect, prune).
import type { Command } from 'commander';
import type { Context } from '../context.js';
import { collect, strip, type Act, type Action } from './act.js';
import { addRunFlags, runFlags } from './run-flags.js';

export function containerCommands(parent: Command, act: Act, prefix = ''): void {
  const run = addRunFlags(parent.command('run').description('Create and run a new container from an image').argument('<image>').argument('[command...]'));
  run.action(async (image: string, command: string[], opts: Record<string, unknown>) => {
    await act(async () => (await import('../commands/containers.js')).run)(image, command, runFlags(opts));
  });
  const create = addRunFlags(parent.command('create').description('Create a new container').argument('<image>').argument('[command...]'));
  create.action(async (image: string, command: string[], opts: Record<string, unknown>) => {
    await act(async () => (await import('../commands/containers.js')).create)(image, command, runFlags(opts));
  });
  parent
    .command('start')
    .description('Start one or more stopped containers')
    .argument('<container...>')
    .option('-a, --attach', "Attach STDOUT/STDERR and forward signals")
    .option('-i, --interactive', "Attach container's STDIN")
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js')).start as Action)(...(strip(a) as never[])));
  for (const [name, desc] of [
    ['stop', 'Stop one or more running containers'],
    ['restart', 'Restart one or more containers'],
  ] as const) {
    parent
      .command(name)
      .description(desc)
      .argument('<container...>')
      .option('-t, --time <int>', 'Seconds to wait before killing the container')
      .option('-s, --signal <string>', 'Signal to send to the container')
      .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js'))[name] as Action)(...(strip(a) as never[])));
  }
  parent
    .command('kill')
    .description('Kill one or more running containers')
    .argument('<container...>')
    .option('-s, --signal <string>', 'Signal to send to the container')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js')).kill as Action)(...(strip(a) as never[])));
  const rmCmd = parent.command('rm');
  if (prefix) rmCmd.alias('remove');
  rmCmd
    .description('Remove one or more containers')
    .argument('<container...>')
    .option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
    .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js')).rm as Action)(...(strip(a) as never[])));
  const ps = parent.command(prefix ? 'ls' : 'ps');
  if (prefix) ps.alias('ps').alias('list');
  ps.description('List containers')
    .option('-a, --all', 'Show all containers (default shows just running)')
    .option('-q, --quiet', 'Only display container IDs')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect, [])
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
    .option('--no-trunc', "Don't truncate output")
    .option('-s, --size', 'Display total file sizes')
    .option('-n, --last <int>', 'Show n last created containers (includes all states)')
    .option('--latest', 'Show the latest created container (includes all states)')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js')).ps as Action)(...(strip(a) as never[])));
  parent
    .command('logs')
    .description('Fetch the logs of a container')
    .argument('<container>')
    .option('-f, --follow', 'Follow log output')
    .option('-n, --tail <string>', 'Number of lines to show from the end of the logs', 'all')
    .option('--since <string>', 'Show logs since timestamp or relative (e.g. 42m for 42 minutes)')
    .option('--until <string>', 'Show logs before a timestamp or relative')
    .option('-t, --timestamps', 'Show timestamps')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js')).logs as Action)(...(strip(a) as never[])));
  parent
    .command('exec')
    .description('Execute a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('-d, --detach', 'Detached mode: run command in the background')
    .option('-u, --user <string>', 'Username or UID')
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .option('-e, --env <list>', 'Set environment variables', collect, [])
    .option('--privileged', 'Give extended privileges to the command')
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .passThroughOptions()
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js')).exec as Action)(...(strip(a) as never[])));
  parent
    .command('attach')
    .description("Attach local standard input, output, and error streams to a running container")
    .argument('<container>')
    .option('--no-stdin', 'Do not attach STDIN')
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js')).attach as Action)(...(strip(a) as never[])));
  parent
    .command('wait')
    .description('Block until one or more containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js')).wait as Action)(...(strip(a).slice(0, 1) as never[])));
  parent
    .command('stats')
    .description('Display a live stream of container(s) resource usage statistics')
    .argument('[container...]')
    .option('-a, --all', 'Show all containers (default shows just running)')
    .option('--no-stream', 'Disable streaming stats and only pull the first result')
    .option('--no-trunc', "Don't truncate output")
    .option('--format <string>', 'Format output using a custom template')
    .action(async (names: string[], o: { stream?: boolean; all?: boolean; trunc?: boolean; format?: string }) =>
      act(async () => (await import('../commands/containers.js')).stats)(names, { noStream: o.stream === false, ...o }),
    );
  parent
    .command('export')
    .description("Export a container's filesystem as a tar archive")
    .argument('<container>')
    .option('-o, --output <string>', 'Write to a file, instead of STDOUT')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js')).exportContainer as Action)(...(strip(a) as never[])));
  parent
    .command('cp')
    .description('Copy files/folders between a container and the local filesystem')
    .usage('[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH')
    .argument('[paths...]')
    .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
    .option('-L, --follow-link', 'Always follow symlinks in SRC_PATH')
    .option('-q, --quiet', 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached')
    .action(async (paths: string[], o: { archive?: boolean; followLink?: boolean; quiet?: boolean }) => act(async () => (await import('../commands/cp.js')).cp)(paths, o));
  parent
    .command('commit')
    .description("Create a new image from a container's changes")
    .argument('<container>')
    .argument('[repository]')
    .option('-a, --author <string>', 'Author')
    .option('-m, --message <string>', 'Commit message')
    .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect, [])
    .option('--no-pause', 'Disable pausing container during commit')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/containers.js')).commit as Action)(...(strip(a) as never[])));
  parent
    .command('rename')
    .description('Rename a container')
    .argument('<container>')
    .argument('<new-name>')
    .action(async (from: string, to: string) => act(async () => (await import('../commands/containers.js')).rename)(from, to));
  for (const op of ['pause', 'unpause'] as const) {
    parent
      .command(op)
      .description(`${op === 'pause' ? 'Pause' : 'Unpause'} all processes within one or more containers`)
      .argument('<container...>')
      .action(async (names: string[]) => act(async () => (await import('../commands/containers.js')).simple)(names, op));
  }
  parent
    .command('top')
    .description('Display the running processes of a container')
    .argument('<container>')
    .argument('[ps-options...]')
    .passThroughOptions()
    .action(async (name: string, args: string[]) => act(async () => (await import('../commands/containers.js')).top)(name, args));
  parent
    .command('port')
    .description('List port mappings or a specific mapping for the container')
    .argument('<container>')
    .argument('[private-port]')
    .action(async (name: string, p: string | undefined) => act(async () => (await import('../commands/containers.js')).port)(name, p));
  if (prefix) {
    parent
      .command('inspect')
      .description('Display detailed information on one or more containers')
      .argument('<container...>')
      .option('-f, --format <string>', 'Format output using a custom template')
      .option('-s, --size', 'Display total file sizes')
      .action(async (names: string[], o: { format?: string; size?: boolean }) => act(async () => (await import('../commands/system.js')).inspect)(names, { ...o, type: 'container' }));
    parent
      .command('prune')
      .description('Remove all stopped containers')
      .option('-f, --force', 'Do not prompt for confirmation')
      .option('--filter <filter>', 'Provide filter values', collect, [])
      .action(async (o: { filter: string[] }) =>
        act(async () => async (ctx: Context) => {
          const { parseFilters } = await import('../commands/filters.js');
          const { humanSize } = await import('../format/units.js');
          const res = await (await ctx.client()).containerPrune(parseFilters(o.filter));
          const del = res.ContainersDeleted ?? [];
          if (del.length > 0) ctx.out(`Deleted Containers:\n${del.join('\n')}\n\n`);
          ctx.out(`Total reclaimed space: ${humanSize(res.SpaceReclaimed ?? 0)}\n`);
          return 0;
        })(),
      );
  }
}
