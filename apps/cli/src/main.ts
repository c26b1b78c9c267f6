// The CLI proper (dist/berth-main.js), run by the launcher (src/launcher.ts) or from source.
import { runCli } from './cli.js';

// A reader that went away (`berth logs c | head`): stop quietly, as a program killed by
// SIGPIPE does, instead of an unhandled 'error' event on stdout.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') process.stderr.write(`${err.message}\n`);
  process.exit(err.code === 'EPIPE' ? 141 : 1);
});

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
