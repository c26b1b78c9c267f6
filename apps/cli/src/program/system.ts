import type { Command } from 'commander';
import { collect, strip, type Act, type Action } from './act.js';

/** `berth inspect`: any object by name. */
export function inspectCommand(program: Command, act: Act): void {
  program
    .command('inspect')
    .description('Return low-level information on Berth objects')
    .argument('<name...>')
    .option('-f, --format <string>', "Format output using a custom template: 'json', 'TEMPLATE'")
    .option('-s, --size', 'Display total file sizes if the type is container')
    .option('--type <string>', 'Only inspect objects of the given type')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/system.js')).inspect as Action)(...(strip(a) as never[])));
}

/** `berth info`, `system ...`, `events`, `version`, `login`, `logout`. */
export function systemCommands(program: Command, act: Act): void {
  const system = program.command('system').description('Manage Berth');
  const infoCmd = (parent: Command): void => {
    parent
      .command('info')
      .description('Display system-wide information')
      .option('-f, --format <string>', 'Format output using a custom template')
      .action(async (...a: unknown[]) => act(async () => (await import('../commands/system.js')).info as Action)(...(strip(a) as never[])));
  };
  infoCmd(program);
  infoCmd(system);
  system
    .command('df')
    .description('Show berth disk usage')
    .option('-v, --verbose', 'Show detailed information on space usage')
    .option('--format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/system.js')).df as Action)(...(strip(a) as never[])));
  system
    .command('prune')
    .description('Remove unused data')
    .option('-a, --all', 'Remove all unused images not just dangling ones')
    .option('--volumes', 'Prune anonymous volumes')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values', collect, [])
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/system.js')).systemPrune as Action)(...(strip(a) as never[])));
  const eventsCmd = (parent: Command): void => {
    parent
      .command('events')
      .description('Get real time events from the server')
      .option('--since <string>', 'Show all events created since timestamp')
      .option('--until <string>', 'Stream events until this timestamp')
      .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect, [])
      .option('--format <string>', 'Format output using a custom template')
      .action(async (...a: unknown[]) => act(async () => (await import('../commands/system.js')).events as Action)(...(strip(a) as never[])));
  };
  eventsCmd(program);
  eventsCmd(system);
  program
    .command('version')
    .description('Show the Berth version information')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/system.js')).version as Action)(...(strip(a) as never[])));
  program
    .command('login')
    .description('Authenticate to a registry')
    .argument('[server]')
    .option('-u, --username <string>', 'Username')
    .option('-p, --password <string>', 'Password or Personal Access Token (PAT)')
    .option('--password-stdin', 'Take the Password or Personal Access Token (PAT) from stdin')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/system.js')).login as Action)(...(strip(a) as never[])));
  program
    .command('logout')
    .description('Log out from a registry')
    .argument('[server]')
    .action(async (server: string | undefined) => act(async () => (await import('../commands/system.js')).logout)(server));
}
