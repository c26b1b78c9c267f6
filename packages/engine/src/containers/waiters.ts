import { BerthError, InvalidArgumentError } from '@berth/image-format';
import type { ContainerWaitResponse, WaitCondition } from '../docker-types.js';
import { isActive } from './context.js';
import type { ContainerRecord } from './record.js';

interface Waiter {
  condition: WaitCondition;
  resolve: (r: ContainerWaitResponse) => void;
}

/** `docker wait`'s conditions, and the engine's own waits for an exit to be recorded. */
export class Waiters {
  private readonly byContainer = new Map<string, Set<Waiter>>();

  /** Registered before it returns, so a wait made before a start never misses that run's exit. */
  wait(r: ContainerRecord, condition: WaitCondition, signal?: AbortSignal): Promise<ContainerWaitResponse> {
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) {
      return Promise.reject(new InvalidArgumentError(`invalid condition: "${condition}"`));
    }
    if (condition === 'not-running' && !isActive(r)) return Promise.resolve({ StatusCode: r.state.exitCode, Error: null });
    return new Promise((resolve, reject) => {
      const w: Waiter = { condition, resolve: (res) => resolve({ StatusCode: res.StatusCode, Error: null }) };
      this.add(r.id, w);
      signal?.addEventListener('abort', () => {
        this.byContainer.get(r.id)?.delete(w);
        reject(new BerthError('Unavailable', 'wait aborted'));
      }, { once: true });
    });
  }

  /** Resolves at the next exit (or removal) of the container. */
  nextExit(id: string): Promise<void> {
    return new Promise((resolve) => this.add(id, { condition: 'next-exit', resolve: () => resolve() }));
  }

  notify(id: string, what: 'exit' | 'removed', res: ContainerWaitResponse): void {
    const set = this.byContainer.get(id);
    if (!set) return;
    for (const w of [...set]) {
      if (what === 'exit' && w.condition === 'removed') continue;
      // Docker resolves not-running at each exit, also of a container that will restart.
      set.delete(w);
      w.resolve(res);
    }
    if (set.size === 0) this.byContainer.delete(id);
  }

  /** The engine closes: every waiter learns it will not see the exit. */
  close(): void {
    for (const set of this.byContainer.values()) for (const w of set) w.resolve({ StatusCode: -1, Error: { Message: 'engine closed' } });
    this.byContainer.clear();
  }

  private add(id: string, w: Waiter): void {
    let set = this.byContainer.get(id);
    if (!set) this.byContainer.set(id, (set = new Set()));
    set.add(w);
  }
}
