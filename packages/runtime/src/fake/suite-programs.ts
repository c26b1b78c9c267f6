/*
 * The conformance suite's shell scripts that the fake's builtins do not simulate (loops,
 * traps, tests, read), as programs. A new suite case with such a script needs its
 * program here: the fake run of the suite fails with `sh: script not simulated` until then.
 * Exported so other simulated guests (the HCS simulator's) run the suite with the same programs.
 */
import type { FakeProgram } from './programs.js';

const SIGTERM = 15;

const scripts: Record<string, FakeProgram> = {
  'trap "echo got-term; exit 42" TERM; echo ready; while true; do sleep 0.05; done': async (p) => {
    p.trap(SIGTERM, () => {
      p.stdout('got-term\n');
      p.exit(42);
    });
    p.stdout('ready\n');
    for (;;) await p.sleep(0.05);
  },
  '[ -t 0 ] && [ -t 1 ] && echo is-a-tty; stty size': async (p) => {
    if (p.tty) p.stdout('is-a-tty\n');
    const s = p.terminalSize();
    if (!s) return 1;
    p.stdout(`${s.height} ${s.width}\n`);
    return 0;
  },
  '[ -t 1 ] || echo not-a-tty': async (p) => {
    if (!p.tty) p.stdout('not-a-tty\n');
    return 0;
  },
  '[ -t 1 ] && echo exec-tty': async (p) => {
    if (!p.tty) return 1;
    p.stdout('exec-tty\n');
    return 0;
  },
  'i=0; while [ "$(stty size)" != "30 100" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; stty size': async (p) => {
    const size = () => `${p.terminalSize()?.height} ${p.terminalSize()?.width}`;
    for (let i = 0; size() !== '30 100' && i < 200; i++) await p.sleep(0.05);
    p.stdout(`${size()}\n`);
    return 0;
  },
  'read line; echo "got:$line"': async (p) => {
    p.stdout(`got:${(await p.readLine()) ?? ''}\n`);
    return 0;
  },
  'i=0; while [ $i -lt 600 ]; do echo tick $i; i=$((i+1)); sleep 0.02; done': async (p) => {
    for (let i = 0; i < 600; i++) {
      p.stdout(`tick ${i}\n`);
      await p.sleep(0.02);
    }
    return 0;
  },
  'i=1; while [ $i -le 2000 ]; do echo line$i; i=$((i+1)); done; sleep 0.2; echo oops >&2; sleep 0.2; printf end': async (p) => {
    for (let i = 1; i <= 2000; i++) p.stdout(`line${i}\n`);
    await p.sleep(0.2);
    p.stderr('oops\n');
    await p.sleep(0.2);
    p.stdout('end');
    return 0;
  },
};

export function suitePrograms(args: string[]): FakeProgram | undefined {
  return args[0] === 'sh' && args[1] === '-c' ? scripts[args[2] ?? ''] : undefined;
}
