// The `berth` command tree: docker's command names, flags and exit codes, over commander.
import { Command, CommanderError, Option } from 'commander';
import { Context, StatusError, errorMessage, type Streams } from './context.js';
import { BERTH_BUILD, BERTH_VERSION } from './version.js';
import type { RunFlags } from './commands/run-options.js';
import { addBuildFlags } from './build-flags.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

type Action = (ctx: Context, ...args: never[]) => Promise<number>;

/** Everything a command's action needs to report back. */
interface RunState {
  code: number;
  ctx: Context | undefined;
  hostFlag: () => string | undefined;
  io: Streams;
}

function addRunFlags(cmd: Command): Command {
  return cmd
    .option('-d, --detach', 'Run container in background and print container ID')
    .option('--rm', 'Automatically remove the container and its associated anonymous volumes when it exits')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .option('-a, --attach <list>', 'Attach to STDIN, STDOUT or STDERR', collect, [])
    .option('--sig-proxy [bool]', 'Proxy received signals to the process', true)
    .option('-e, --env <list>', 'Set environment variables', collect, [])
    .option('--env-file <list>', 'Read in a file of environment variables', collect, [])
    .option('-v, --volume <list>', 'Bind mount a volume', collect, [])
    .option('--mount <mount>', 'Attach a filesystem mount to the container', collect, [])
    .option('-p, --publish <list>', "Publish a container's port(s) to the host", collect, [])
    .option('-P, --publish-all', 'Publish all exposed ports to random ports')
    .option('--expose <list>', 'Expose a port or a range of ports', collect, [])
    .option('--name <string>', 'Assign a name to the container')
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .option('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('--entrypoint <string>', 'Overwrite the default ENTRYPOINT of the image')
    .option('--network <network>', 'Connect a container to a network')
    .addOption(new Option('--net <network>').hideHelp())
    .option('--restart <string>', 'Restart policy to apply when a container exits', 'no')
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--cpus <decimal>', 'Number of CPUs')
    .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--cap-add <list>', 'Add Linux capabilities', collect, [])
    .option('--cap-drop <list>', 'Drop Linux capabilities', collect, [])
    .option('--security-opt <list>', 'Security Options', collect, [])
    .option('-l, --label <list>', 'Set meta data on a container', collect, [])
    .option('-h, --hostname <string>', 'Container host name')
    .option('--privileged', 'Give extended privileges to this container')
    .option('--tmpfs <list>', 'Mount a tmpfs directory', collect, [])
    .option('--add-host <list>', 'Add a custom host-to-IP mapping (host:ip)', collect, [])
    .option('--dns <list>', 'Set custom DNS servers', collect, [])
    .option('--stop-signal <string>', 'Signal to stop the container')
    .option('--stop-timeout <int>', 'Timeout (in seconds) to stop a container')
    .option('--init', 'Run an init inside the container that forwards signals and reaps processes')
    .option('--ulimit <ulimit>', 'Ulimit options', collect, [])
    .option('--group-add <list>', 'Add additional groups to join', collect, [])
    .option('--pid <string>', 'PID namespace to use')
    .option('--ipc <string>', 'IPC mode to use')
    .option('--uts <string>', 'UTS namespace to use')
    .option('--cpuset-cpus <string>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--sysctl <map>', 'Sysctl options', collect, [])
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .option('--pull <string>', 'Pull image before running ("always", "missing", "never")', 'missing')
    .helpOption('--help', 'Print usage')
    .passThroughOptions();
}

function runFlags(o: Record<string, unknown>): RunFlags {
  return { ...(o as unknown as RunFlags), network: (o['network'] ?? o['net']) as string | undefined };
}

/** Builds the program; `state` receives the exit code and the context. */
export function buildProgram(state: RunState): Command {
  const program = new Command('berth');
  const act =
    <A extends unknown[]>(load: () => Promise<(ctx: Context, ...args: A) => Promise<number>>) =>
    async (...args: A): Promise<void> => {
      const ctx = new Context(state.hostFlag(), state.io);
      state.ctx = ctx;
      const fn = await load();
      state.code = await fn(ctx, ...args);
    };
  // commander passes (args..., options, command): drop the trailing command object.
  const strip = <T extends unknown[]>(args: T): T => args.slice(0, -1) as T;

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

  const containers = (parent: Command, prefix = ''): void => {
    const run = addRunFlags(parent.command('run').description('Create and run a new container from an image').argument('<image>').argument('[command...]'));
    run.action(async (image: string, command: string[], opts: Record<string, unknown>) => {
      await act(async () => (await import('./commands/containers.js')).run)(image, command, runFlags(opts));
    });
    const create = addRunFlags(parent.command('create').description('Create a new container').argument('<image>').argument('[command...]'));
    create.action(async (image: string, command: string[], opts: Record<string, unknown>) => {
      await act(async () => (await import('./commands/containers.js')).create)(image, command, runFlags(opts));
    });
    parent
      .command('start')
      .description('Start one or more stopped containers')
      .argument('<container...>')
      .option('-a, --attach', "Attach STDOUT/STDERR and forward signals")
      .option('-i, --interactive', "Attach container's STDIN")
      .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js')).start as Action)(...(strip(a) as never[])));
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
        .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js'))[name] as Action)(...(strip(a) as never[])));
    }
    parent
      .command('kill')
      .description('Kill one or more running containers')
      .argument('<container...>')
      .option('-s, --signal <string>', 'Signal to send to the container')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js')).kill as Action)(...(strip(a) as never[])));
    const rmCmd = parent.command('rm');
    if (prefix) rmCmd.alias('remove');
    rmCmd
      .description('Remove one or more containers')
      .argument('<container...>')
      .option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
      .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js')).rm as Action)(...(strip(a) as never[])));
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
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js')).ps as Action)(...(strip(a) as never[])));
    parent
      .command('logs')
      .description('Fetch the logs of a container')
      .argument('<container>')
      .option('-f, --follow', 'Follow log output')
      .option('-n, --tail <string>', 'Number of lines to show from the end of the logs', 'all')
      .option('--since <string>', 'Show logs since timestamp or relative (e.g. 42m for 42 minutes)')
      .option('--until <string>', 'Show logs before a timestamp or relative')
      .option('-t, --timestamps', 'Show timestamps')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js')).logs as Action)(...(strip(a) as never[])));
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
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js')).exec as Action)(...(strip(a) as never[])));
    parent
      .command('attach')
      .description("Attach local standard input, output, and error streams to a running container")
      .argument('<container>')
      .option('--no-stdin', 'Do not attach STDIN')
      .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js')).attach as Action)(...(strip(a) as never[])));
    parent
      .command('wait')
      .description('Block until one or more containers stop, then print their exit codes')
      .argument('<container...>')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js')).wait as Action)(...(strip(a).slice(0, 1) as never[])));
    parent
      .command('stats')
      .description('Display a live stream of container(s) resource usage statistics')
      .argument('[container...]')
      .option('-a, --all', 'Show all containers (default shows just running)')
      .option('--no-stream', 'Disable streaming stats and only pull the first result')
      .option('--no-trunc', "Don't truncate output")
      .option('--format <string>', 'Format output using a custom template')
      .action(async (names: string[], o: { stream?: boolean; all?: boolean; trunc?: boolean; format?: string }) =>
        act(async () => (await import('./commands/containers.js')).stats)(names, { noStream: o.stream === false, ...o }),
      );
    parent
      .command('export')
      .description("Export a container's filesystem as a tar archive")
      .argument('<container>')
      .option('-o, --output <string>', 'Write to a file, instead of STDOUT')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js')).exportContainer as Action)(...(strip(a) as never[])));
    parent
      .command('cp')
      .description('Copy files/folders between a container and the local filesystem')
      .usage('[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH')
      .argument('[paths...]')
      .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
      .option('-L, --follow-link', 'Always follow symlinks in SRC_PATH')
      .option('-q, --quiet', 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached')
      .action(async (paths: string[], o: { archive?: boolean; followLink?: boolean; quiet?: boolean }) => act(async () => (await import('./commands/cp.js')).cp)(paths, o));
    parent
      .command('commit')
      .description("Create a new image from a container's changes")
      .argument('<container>')
      .argument('[repository]')
      .option('-a, --author <string>', 'Author')
      .option('-m, --message <string>', 'Commit message')
      .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect, [])
      .option('--no-pause', 'Disable pausing container during commit')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/containers.js')).commit as Action)(...(strip(a) as never[])));
    parent
      .command('rename')
      .description('Rename a container')
      .argument('<container>')
      .argument('<new-name>')
      .action(async (from: string, to: string) => act(async () => (await import('./commands/containers.js')).rename)(from, to));
    for (const op of ['pause', 'unpause'] as const) {
      parent
        .command(op)
        .description(`${op === 'pause' ? 'Pause' : 'Unpause'} all processes within one or more containers`)
        .argument('<container...>')
        .action(async (names: string[]) => act(async () => (await import('./commands/containers.js')).simple)(names, op));
    }
    parent
      .command('top')
      .description('Display the running processes of a container')
      .argument('<container>')
      .argument('[ps-options...]')
      .passThroughOptions()
      .action(async (name: string, args: string[]) => act(async () => (await import('./commands/containers.js')).top)(name, args));
    parent
      .command('port')
      .description('List port mappings or a specific mapping for the container')
      .argument('<container>')
      .argument('[private-port]')
      .action(async (name: string, p: string | undefined) => act(async () => (await import('./commands/containers.js')).port)(name, p));
    if (prefix) {
      parent
        .command('inspect')
        .description('Display detailed information on one or more containers')
        .argument('<container...>')
        .option('-f, --format <string>', 'Format output using a custom template')
        .option('-s, --size', 'Display total file sizes')
        .action(async (names: string[], o: { format?: string; size?: boolean }) => act(async () => (await import('./commands/system.js')).inspect)(names, { ...o, type: 'container' }));
      parent
        .command('prune')
        .description('Remove all stopped containers')
        .option('-f, --force', 'Do not prompt for confirmation')
        .option('--filter <filter>', 'Provide filter values', collect, [])
        .action(async (o: { filter: string[] }) =>
          act(async () => async (ctx: Context) => {
            const { parseFilters } = await import('./commands/containers.js');
            const { humanSize } = await import('./format/units.js');
            const res = await (await ctx.client()).containerPrune(parseFilters(o.filter));
            const del = res.ContainersDeleted ?? [];
            if (del.length > 0) ctx.out(`Deleted Containers:\n${del.join('\n')}\n\n`);
            ctx.out(`Total reclaimed space: ${humanSize(res.SpaceReclaimed ?? 0)}\n`);
            return 0;
          })(),
        );
    }
  };

  const images = (parent: Command, managed: boolean): void => {
    parent
      .command('pull')
      .description('Download an image from a registry')
      .argument('<name>')
      .option('-a, --all-tags', 'Download all tagged images in the repository')
      .option('-q, --quiet', 'Suppress verbose output')
      .option('--platform <string>', 'Set platform if server is multi-platform capable')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/images.js')).pull as Action)(...(strip(a) as never[])));
    parent
      .command('push')
      .description('Upload an image to a registry')
      .argument('<name>')
      .option('-a, --all-tags', 'Push all tags of an image to the repository')
      .option('-q, --quiet', 'Suppress verbose output')
      .option('--platform <string>', 'Push a platform-specific manifest as a single-platform image')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/images.js')).push as Action)(...(strip(a) as never[])));
    const ls = parent.command(managed ? 'ls' : 'images');
    if (managed) ls.alias('list');
    ls.description('List images')
      .argument('[repository]')
      .option('-a, --all', 'Show all images (default hides intermediate images)')
      .option('-q, --quiet', 'Only show image IDs')
      .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect, [])
      .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
      .option('--no-trunc', "Don't truncate output")
      .option('--digests', 'Show digests')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/images.js')).images as Action)(...(strip(a) as never[])));
    parent
      .command('tag')
      .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
      .argument('<source>')
      .argument('<target>')
      .action(async (s: string, t: string) => act(async () => (await import('./commands/images.js')).tag)(s, t));
    const rmiCmd = parent.command(managed ? 'rm' : 'rmi');
    if (managed) rmiCmd.alias('remove');
    rmiCmd
      .description('Remove one or more images')
      .argument('<image...>')
      .option('-f, --force', 'Force removal of the image')
      .option('--no-prune', 'Do not delete untagged parents')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/images.js')).rmi as Action)(...(strip(a) as never[])));
    parent
      .command('save')
      .description('Save one or more images to a tar archive (streamed to STDOUT by default)')
      .argument('<image...>')
      .option('-o, --output <string>', 'Write to a file, instead of STDOUT')
      .option('--platform <string>', 'Save only the given platform variant')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/images.js')).save as Action)(...(strip(a) as never[])));
    addBuildFlags(parent.command('build'), collect).action(async (...a: unknown[]) => act(async () => (await import('./commands/build.js')).build as Action)(...(strip(a) as never[])));
    parent
      .command('load')
      .description('Load an image from a tar archive or STDIN')
      .option('-i, --input <string>', 'Read from tar archive file, instead of STDIN')
      .option('-q, --quiet', 'Suppress the load output')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/images.js')).load as Action)(...(strip(a) as never[])));
    parent
      .command('import')
      .description('Import the contents from a tarball to create a filesystem image')
      .argument('<file>')
      .argument('[reference]')
      .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect, [])
      .option('-m, --message <string>', 'Set commit message for imported image')
      .option('--platform <string>', 'Set platform if server is multi-platform capable')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/images.js')).importImage as Action)(...(strip(a) as never[])));
    parent
      .command('history')
      .description('Show the history of an image')
      .argument('<image>')
      .option('-H, --human', 'Print sizes and dates in human readable format', true)
      .option('-q, --quiet', 'Only show image IDs')
      .option('--no-trunc', "Don't truncate output")
      .option('--format <string>', 'Format output using a custom template')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/images.js')).history as Action)(...(strip(a) as never[])));
    if (managed) {
      parent
        .command('inspect')
        .description('Display detailed information on one or more images')
        .argument('<image...>')
        .option('-f, --format <string>', 'Format output using a custom template')
        .action(async (names: string[], o: { format?: string }) => act(async () => (await import('./commands/system.js')).inspect)(names, { ...o, type: 'image' }));
      parent
        .command('prune')
        .description('Remove unused images')
        .option('-a, --all', 'Remove all unused images, not just dangling ones')
        .option('-f, --force', 'Do not prompt for confirmation')
        .option('--filter <filter>', 'Provide filter values', collect, [])
        .action(async (...a: unknown[]) => act(async () => (await import('./commands/images.js')).imagePrune as Action)(...(strip(a) as never[])));
    }
  };

  containers(program);
  images(program, false);
  containers(program.command('container').description('Manage containers'), 'container');
  images(program.command('image').description('Manage images'), true);

  program
    .command('inspect')
    .description('Return low-level information on Berth objects')
    .argument('<name...>')
    .option('-f, --format <string>', "Format output using a custom template: 'json', 'TEMPLATE'")
    .option('-s, --size', 'Display total file sizes if the type is container')
    .option('--type <string>', 'Only inspect objects of the given type')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/system.js')).inspect as Action)(...(strip(a) as never[])));

  const volume = program.command('volume').description('Manage volumes');
  volume
    .command('create')
    .argument('[name]')
    .option('-d, --driver <string>', 'Specify volume driver name', 'local')
    .option('-o, --opt <map>', 'Set driver specific options', collect, [])
    .option('--label <list>', 'Set metadata for a volume', collect, [])
    .option('--name <string>', 'Specify volume name')
    .description('Create a volume')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).volumeCreate as Action)(...(strip(a) as never[])));
  volume
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-q, --quiet', 'Only display volume names')
    .option('-f, --filter <filter>', 'Provide filter values', collect, [])
    .option('--format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).volumeLs as Action)(...(strip(a) as never[])));
  volume
    .command('rm')
    .alias('remove')
    .description('Remove one or more volumes')
    .argument('<volume...>')
    .option('-f, --force', 'Force the removal of one or more volumes')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).volumeRm as Action)(...(strip(a) as never[])));
  volume
    .command('inspect')
    .description('Display detailed information on one or more volumes')
    .argument('<volume...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).volumeInspect as Action)(...(strip(a) as never[])));
  volume
    .command('prune')
    .description('Remove unused local volumes')
    .option('-a, --all', 'Remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values', collect, [])
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).volumePrune as Action)(...(strip(a) as never[])));

  const network = program.command('network').description('Manage networks');
  network
    .command('create')
    .description('Create a network')
    .argument('<network>')
    .option('-d, --driver <string>', 'Driver to manage the Network', 'bridge')
    .option('--subnet <strings>', 'Subnet in CIDR format that represents a network segment', collect, [])
    .option('--gateway <strings>', 'IPv4 or IPv6 Gateway for the master subnet', collect, [])
    .option('--ip-range <strings>', 'Allocate container ip from a sub-range', collect, [])
    .option('--internal', 'Restrict external access to the network')
    .option('--attachable', 'Enable manual container attachment')
    .option('--ipv6', 'Enable or disable IPv6 networking')
    .option('--label <list>', 'Set metadata on a network', collect, [])
    .option('-o, --opt <map>', 'Set driver specific options', collect, [])
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).networkCreate as Action)(...(strip(a) as never[])));
  network
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-q, --quiet', 'Only display network IDs')
    .option('-f, --filter <filter>', 'Provide filter values', collect, [])
    .option('--format <string>', 'Format output using a custom template')
    .option('--no-trunc', 'Do not truncate the output')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).networkLs as Action)(...(strip(a) as never[])));
  network
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>')
    .action(async (names: string[]) => act(async () => (await import('./commands/objects.js')).networkRm)(names));
  network
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).networkInspect as Action)(...(strip(a) as never[])));
  network
    .command('connect')
    .description('Connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <strings>', 'Add network-scoped alias for the container', collect, [])
    .option('--ip <string>', 'IPv4 address')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).networkConnect as Action)(...(strip(a) as never[])));
  network
    .command('disconnect')
    .description('Disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'Force the container to disconnect from a network')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).networkDisconnect as Action)(...(strip(a) as never[])));
  network
    .command('prune')
    .description('Remove all unused networks')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values', collect, [])
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/objects.js')).networkPrune as Action)(...(strip(a) as never[])));

  const system = program.command('system').description('Manage Berth');
  const infoCmd = (parent: Command): void => {
    parent
      .command('info')
      .description('Display system-wide information')
      .option('-f, --format <string>', 'Format output using a custom template')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/system.js')).info as Action)(...(strip(a) as never[])));
  };
  infoCmd(program);
  infoCmd(system);
  system
    .command('df')
    .description('Show berth disk usage')
    .option('-v, --verbose', 'Show detailed information on space usage')
    .option('--format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/system.js')).df as Action)(...(strip(a) as never[])));
  system
    .command('prune')
    .description('Remove unused data')
    .option('-a, --all', 'Remove all unused images not just dangling ones')
    .option('--volumes', 'Prune anonymous volumes')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values', collect, [])
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/system.js')).systemPrune as Action)(...(strip(a) as never[])));
  const eventsCmd = (parent: Command): void => {
    parent
      .command('events')
      .description('Get real time events from the server')
      .option('--since <string>', 'Show all events created since timestamp')
      .option('--until <string>', 'Stream events until this timestamp')
      .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect, [])
      .option('--format <string>', 'Format output using a custom template')
      .action(async (...a: unknown[]) => act(async () => (await import('./commands/system.js')).events as Action)(...(strip(a) as never[])));
  };
  eventsCmd(program);
  eventsCmd(system);
  program
    .command('version')
    .description('Show the Berth version information')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/system.js')).version as Action)(...(strip(a) as never[])));
  program
    .command('login')
    .description('Authenticate to a registry')
    .argument('[server]')
    .option('-u, --username <string>', 'Username')
    .option('-p, --password <string>', 'Password or Personal Access Token (PAT)')
    .option('--password-stdin', 'Take the Password or Personal Access Token (PAT) from stdin')
    .action(async (...a: unknown[]) => act(async () => (await import('./commands/system.js')).login as Action)(...(strip(a) as never[])));
  program
    .command('logout')
    .description('Log out from a registry')
    .argument('[server]')
    .action(async (server: string | undefined) => act(async () => (await import('./commands/system.js')).logout)(server));
  program
    .command('completion')
    .description('Print a shell completion script (bash or zsh)')
    .argument('<shell>')
    .action(async (shell: string) => {
      const { completionScript } = await import('./completion.js');
      state.io.stdout.write(completionScript(shell, program));
      state.code = 0;
    });

  for (const cmd of allCommands(program)) {
    cmd.helpOption('--help', 'Print usage');
    cmd.exitOverride();
  }
  return program;
}

/** Every command of the tree, depth first. */
export function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap((c) => allCommands(c))];
}

/** Runs the CLI with `argv` (no node/script prefix); resolves with the exit code. */
export async function runCli(argv: string[], io: Streams = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const state: RunState = { code: 0, ctx: undefined, hostFlag: () => undefined, io };
  const program = buildProgram(state);
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
