import type { Command } from 'commander';
import { collect, strip, type Act, type Action } from './act.js';

/** `berth network ...`. */
export function networkCommands(program: Command, act: Act): void {
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
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).networkCreate as Action)(...(strip(a) as never[])));
  network
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-q, --quiet', 'Only display network IDs')
    .option('-f, --filter <filter>', 'Provide filter values', collect, [])
    .option('--format <string>', 'Format output using a custom template')
    .option('--no-trunc', 'Do not truncate the output')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).networkLs as Action)(...(strip(a) as never[])));
  network
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>')
    .action(async (names: string[]) => act(async () => (await import('../commands/objects.js')).networkRm)(names));
  network
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).networkInspect as Action)(...(strip(a) as never[])));
  network
    .command('connect')
    .description('Connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <strings>', 'Add network-scoped alias for the container', collect, [])
    .option('--ip <string>', 'IPv4 address')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).networkConnect as Action)(...(strip(a) as never[])));
  network
    .command('disconnect')
    .description('Disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'Force the container to disconnect from a network')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).networkDisconnect as Action)(...(strip(a) as never[])));
  network
    .command('prune')
    .description('Remove all unused networks')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values', collect, [])
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).networkPrune as Action)(...(strip(a) as never[])));
}
