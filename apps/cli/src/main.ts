// The CLI proper (dist/berth-main.js), run by the launcher (src/launcher.ts) or from source.
import { runCli } from './cli.js';

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
