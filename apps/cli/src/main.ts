// berth's entry point. `--version` answers before anything else loads so it costs
// little more than starting node; everything else goes through the commander program.
import { BERTH_BUILD, BERTH_VERSION } from './version.js';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  process.stdout.write(`Berth version ${BERTH_VERSION}, build ${BERTH_BUILD}\n`);
} else {
  void import('./cli.js')
    .then(({ runCli }) => runCli(argv))
    .then((code) => {
      process.exitCode = code;
    });
}
