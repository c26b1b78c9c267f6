// The flags `run` and `create` share, docker's names and defaults.
import { Option, type Command } from 'commander';
import type { RunFlags } from '../commands/run-options.js';
import { collect } from './act.js';

export function addRunFlags(cmd: Command): Command {
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

export function runFlags(o: Record<string, unknown>): RunFlags {
  return { ...(o as unknown as RunFlags), network: (o['network'] ?? o['net']) as string | undefined };
}
