import type { Command } from 'commander';

/** `berth build`'s arguments and flags: docker's classic ones, and buildx's for dockerfile:1 builds. */
export function addBuildFlags(cmd: Command, collect: (value: string, previous?: string[]) => string[]): Command {
  return cmd
    .description('Build an image from a Dockerfile')
    .argument('<path>', 'context directory, or - for a tar (or a Dockerfile) on stdin')
    .option('-t, --tag <name>', 'Name and optionally a tag in the "name:tag" format', collect, [])
    .option('-f, --file <string>', "Name of the Dockerfile (default: 'PATH/Dockerfile')")
    .option('--build-arg <list>', 'Set build-time variables', collect, [])
    .option('--label <list>', 'Set metadata for an image', collect, [])
    .option('--no-cache', 'Do not use cache when building the image')
    .option('--no-cache-filter <stage>', 'Do not cache specified stages', collect, [])
    .option('--cache-from <image>', 'Images to consider as cache sources', collect, [])
    .option('-q, --quiet', 'Suppress the build output and print image ID on success')
    .option('--target <string>', 'Set the target build stage to build')
    .option('--platform <string>', 'Set target platform for build')
    .option('--network <string>', 'Set the networking mode for the RUN instructions during build')
    .option('--secret <spec>', 'Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=mysecret,env=VAR")', collect, [])
    .option('--progress <type>', 'Set type of progress output ("auto", "plain", "tty", "quiet"); without it, the classic builder\'s output')
    .option('--pull', 'Always attempt to pull a newer version of the image')
    .option('--force-rm', 'Always remove intermediate containers')
    .option('--iidfile <string>', 'Write the image ID to the file');
}
