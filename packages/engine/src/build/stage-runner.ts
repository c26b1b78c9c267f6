import type { ProgressMessage } from '../docker-types.js';

/**
 * The build stream of stages that run at the same time, in the order a one-at-a-time build
 * would print it: a stage's messages go out live once every stage before it has finished,
 * and are held until then. After a failure, what later stages said is dropped (a classic
 * build would never have run them).
 */
export class OrderedOutput {
  private readonly held: ProgressMessage[][];
  private readonly finished: boolean[];
  private head = 0;
  private cut = Infinity;

  constructor(
    n: number,
    private readonly emit: (m: ProgressMessage) => void,
  ) {
    this.held = Array.from({ length: n }, () => []);
    this.finished = new Array<boolean>(n).fill(false);
  }

  write(pos: number, m: ProgressMessage): void {
    if (pos > this.cut) return;
    if (pos === this.head) this.emit(m);
    else this.held[pos]!.push(m);
  }

  finish(pos: number, failed: boolean): void {
    if (failed && pos < this.cut) {
      this.cut = pos;
      for (let i = pos + 1; i < this.held.length; i++) this.held[i] = [];
    }
    this.finished[pos] = true;
    while (this.head < this.held.length && this.finished[this.head]) {
      this.head++;
      if (this.head > this.cut || this.head >= this.held.length) break;
      for (const m of this.held[this.head]!.splice(0)) this.emit(m);
    }
  }
}

/** A stage that did not start, or ended early, because another one failed. */
export class StageStopped extends Error {
  constructor() {
    super('stopped: another stage of the build failed');
  }
}

/**
 * Runs stages `0..n-1`, each once the stages it depends on (`deps`, positions) are done,
 * independent ones at the same time, as BuildKit's solver does. After a failure no stage
 * starts; `stopped()` tells running ones to end at their next step (throwing StageStopped).
 * Throws the failure of the earliest stage that failed of itself.
 */
export async function runStages(
  deps: number[][],
  out: OrderedOutput,
  runOne: (pos: number, stopped: () => boolean) => Promise<void>,
): Promise<void> {
  let failed = false;
  const stopped = (): boolean => failed;
  const done: Promise<void>[] = [];
  for (let i = 0; i < deps.length; i++) {
    done.push(
      (async () => {
        let broke = false;
        try {
          const before = await Promise.allSettled(deps[i]!.map((d) => done[d]!));
          if (failed || before.some((r) => r.status === 'rejected')) throw new StageStopped();
          await runOne(i, stopped);
        } catch (err) {
          broke = !(err instanceof StageStopped);
          if (broke) failed = true;
          throw err;
        } finally {
          out.finish(i, broke);
        }
      })(),
    );
  }
  const results = await Promise.allSettled(done);
  const first = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof StageStopped));
  if (first) throw first.reason;
}
