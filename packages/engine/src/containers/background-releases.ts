/**
 * Work that frees a removed container's resources (runtime state, rootfs snapshot,
 * directories) after the API already reports it gone, so `run --rm` returns without
 * waiting for them. Whatever needs those resources gone (removing a network or an image)
 * waits for `idle()`; a crash meanwhile leaves orphans that the next start sweeps.
 */
export class BackgroundReleases {
  private readonly pending = new Set<Promise<void>>();

  track(work: Promise<void>): void {
    const p: Promise<void> = work.catch(() => undefined).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
