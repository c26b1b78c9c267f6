import type { Command } from 'commander';
import { collect, strip, type Act, type Action } from './act.js';

/** `berth volume ...`. */
export function volumeCommands(program: Command, act: Act): void {
  const volume = program.command('volume').description('Manage volumes');
  volume
    .command('create')
    .argument('[name]')
    .option('-d, --driver <string>', 'Specify volume driver name', 'local')
    .option('-o, --opt <map>', 'Set driver specific options', collect, [])
    .option('--label <list>', 'Set metadata for a volume', collect, [])
    .option('--name <string>', 'Specify volume name')
    .description('Create a volume')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).volumeCreate as Action)(...(strip(a) as never[])));
  volume
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-q, --quiet', 'Only display volume names')
    .option('-f, --filter <filter>', 'Provide filter values', collect, [])
    .option('--format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).volumeLs as Action)(...(strip(a) as never[])));
  volume
    .command('rm')
    .alias('remove')
    .description('Remove one or more volumes')
    .argument('<volume...>')
    .option('-f, --force', 'Force the removal of one or more volumes')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).volumeRm as Action)(...(strip(a) as never[])));
  volume
    .command('inspect')
    .description('Display detailed information on one or more volumes')
    .argument('<volume...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).volumeInspect as Action)(...(strip(a) as never[])));
  volume
    .command('prune')
    .description('Remove unused local volumes')
    .option('-a, --all', 'Remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values', collect, [])
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/objects.js')).volumePrune as Action)(...(strip(a) as never[])));
}
