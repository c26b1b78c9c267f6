/** At most one pending timer per container: a new one replaces it, cancel and close clear them. */
export class TimersById {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  has(id: string): boolean {
    return this.timers.has(id);
  }

  /** Runs `fn` after `ms` (not keeping the process alive), replacing the container's pending one. */
  set(id: string, ms: number, fn: () => void): void {
    this.cancel(id);
    this.timers.set(id, setTimeout(fn, ms).unref());
  }

  /** Forgets the container's timer without clearing it (it is the one running). */
  forget(id: string): void {
    this.timers.delete(id);
  }

  cancel(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
