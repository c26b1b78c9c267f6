// `berth pull`, `images`, `build`... and the same under `berth image` (managed: ls, rm, inspect, prune).
import type { Command } from 'commander';
import { collect, strip, type Act, type Action } from './act.js';
import { addBuildFlags } from './build-flags.js';

export function imageCommands(parent: Command, managed: boolean, act: Act): void {
  parent
    .command('pull')
    .description('Download an image from a registry')
    .argument('<name>')
    .option('-a, --all-tags', 'Download all tagged images in the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/images.js')).pull as Action)(...(strip(a) as never[])));
  parent
    .command('push')
    .description('Upload an image to a registry')
    .argument('<name>')
    .option('-a, --all-tags', 'Push all tags of an image to the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .option('--platform <string>', 'Push a platform-specific manifest as a single-platform image')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/images.js')).push as Action)(...(strip(a) as never[])));
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
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/images.js')).images as Action)(...(strip(a) as never[])));
  parent
    .command('tag')
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>')
    .argument('<target>')
    .action(async (s: string, t: string) => act(async () => (await import('../commands/images.js')).tag)(s, t));
  const rmiCmd = parent.command(managed ? 'rm' : 'rmi');
  if (managed) rmiCmd.alias('remove');
  rmiCmd
    .description('Remove one or more images')
    .argument('<image...>')
    .option('-f, --force', 'Force removal of the image')
    .option('--no-prune', 'Do not delete untagged parents')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/images.js')).rmi as Action)(...(strip(a) as never[])));
  parent
    .command('save')
    .description('Save one or more images to a tar archive (streamed to STDOUT by default)')
    .argument('<image...>')
    .option('-o, --output <string>', 'Write to a file, instead of STDOUT')
    .option('--platform <string>', 'Save only the given platform variant')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/images.js')).save as Action)(...(strip(a) as never[])));
  addBuildFlags(parent.command('build'), collect).action(async (...a: unknown[]) => act(async () => (await import('../commands/build.js')).build as Action)(...(strip(a) as never[])));
  parent
    .command('load')
    .description('Load an image from a tar archive or STDIN')
    .option('-i, --input <string>', 'Read from tar archive file, instead of STDIN')
    .option('-q, --quiet', 'Suppress the load output')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/images.js')).load as Action)(...(strip(a) as never[])));
  parent
    .command('import')
    .description('Import the contents from a tarball to create a filesystem image')
    .argument('<file>')
    .argument('[reference]')
    .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect, [])
    .option('-m, --message <string>', 'Set commit message for imported image')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/images.js')).importImage as Action)(...(strip(a) as never[])));
  parent
    .command('history')
    .description('Show the history of an image')
    .argument('<image>')
    .option('-H, --human', 'Print sizes and dates in human readable format', true)
    .option('-q, --quiet', 'Only show image IDs')
    .option('--no-trunc', "Don't truncate output")
    .option('--format <string>', 'Format output using a custom template')
    .action(async (...a: unknown[]) => act(async () => (await import('../commands/images.js')).history as Action)(...(strip(a) as never[])));
  if (managed) {
    parent
      .command('inspect')
      .description('Display detailed information on one or more images')
      .argument('<image...>')
      .option('-f, --format <string>', 'Format output using a custom template')
      .action(async (names: string[], o: { format?: string }) => act(async () => (await import('../commands/system.js')).inspect)(names, { ...o, type: 'image' }));
    parent
      .command('prune')
      .description('Remove unused images')
      .option('-a, --all', 'Remove all unused images, not just dangling ones')
      .option('-f, --force', 'Do not prompt for confirmation')
      .option('--filter <filter>', 'Provide filter values', collect, [])
      .action(async (...a: unknown[]) => act(async () => (await import('../commands/images.js')).imagePrune as Action)(...(strip(a) as never[])));
  }
}
