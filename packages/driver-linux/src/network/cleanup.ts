/**
 * The background half of a deferred detach (DetachOptions.deferCleanup): what nobody can
 * clash with (the namespace, and the veths the kernel destroys with it) goes after the
 * caller has its answer. Each cleanup is bounded in time; a failure or a timeout is
 * reported to `onError` and never thrown (the sweep at the next start removes a namespace
 * file no record owns).
 */
export class DeferredCleanups {
  private readonly pending = new Map<string, { addresses: string[]; done: Promise<void> }>();

  constructor(
    private readonly onError: (containerId: string, err: Error) => void,
    private readonly timeoutMs = 30_000,
  ) {}

  /**
   * Registers the cleanup of `containerId` (which held `addresses`) and returns the
   * function that starts it: the caller starts it once its answer is given.
   */
  add(containerId: string, addresses: string[], work: () => Promise<void>): () => void {
    let start!: () => void;
    const started = new Promise<void>((resolve) => (start = resolve));
    const done = started
      .then(() => this.bounded(work()))
      .catch((err: unknown) => this.onError(containerId, err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        if (this.pending.get(containerId)?.done === done) this.pending.delete(containerId);
      });
    this.pending.set(containerId, { addresses, done });
    return start;
  }

  /** Resolves when the cleanups of `containerId`, and of whoever held one of `addresses`, are over. */
  async settledFor(containerId: string, addresses: string[]): Promise<void> {
    const waits = [...this.pending].filter(([id, c]) => id === containerId || c.addresses.some((a) => addresses.includes(a))).map(([, c]) => c.done);
    await Promise.all(waits);
  }

  /** Resolves when every cleanup registered so far is over. */
  async settled(): Promise<void> {
    await Promise.all([...this.pending.values()].map((c) => c.done));
  }

  private bounded(work: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`gave up after ${this.timeoutMs} ms`)), this.timeoutMs);
      timer.unref();
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }
}
