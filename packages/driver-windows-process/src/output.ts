/** Where a container's output goes (its log and attached readers), and its runtime events to listeners. */
import { once } from 'node:events';
import type { PassThrough, Readable } from 'node:stream';
import type { RuntimeEvent } from '@berth/runtime';
import type { FileLog } from './log.js';

/** Bytes of output the log may be behind before the process' pipe is paused. */
const LOG_BACKLOG = 1 << 20;

export interface Attachment {
  stdout: PassThrough | null;
  stderr: PassThrough | null;
  /** Resolves when the attacher closes: nothing waits on its reading any more. */
  gone: Promise<void>;
}

/**
 * Output into the log and to attached readers. Writes are queued in arrival order (so
 * stdout and stderr keep their order); a source waits while the log is behind by more
 * than LOG_BACKLOG bytes, which bounds memory. `detach` stops the copying and leaves what
 * the process writes from then on in its pipe, for the next owner (a restarted berthd).
 */
export function pump(attachments: Set<Attachment>, log: FileLog, source: Readable | null, stream: 'stdout' | 'stderr'): { drained: Promise<void>; detach: () => void } {
  if (!source) return { drained: Promise.resolve(), detach: () => undefined };
  let last: Promise<void> = Promise.resolve();
  let detached = false;
  const onData = (chunk: Buffer) => {
    // a slow reader of attach or of the disk holds the output back (as dockerd's attach does) instead of buffering it
    const waits: Promise<unknown>[] = [];
    for (const a of attachments) {
      const s = a[stream];
      if (s && !s.write(chunk)) waits.push(Promise.race([once(s, 'drain'), a.gone]));
    }
    last = log.write(stream, chunk);
    if (log.backlog > LOG_BACKLOG) waits.push(last);
    if (waits.length) {
      source.pause();
      void Promise.allSettled(waits).then(() => detached || source.resume());
    }
  };
  const drained = new Promise<void>((resolve) => {
    const finish = () => void last.then(resolve, resolve);
    source.on('data', onData);
    // a pipe the previous owner paused on detach does not flow again by itself
    source.resume();
    source.on('error', finish);
    source.on('end', finish);
    source.on('close', finish);
  });
  const detach = () => {
    detached = true;
    source.off('data', onData);
    source.pause();
  };
  return { drained, detach };
}

/** The events listeners get from now on, until `signal` aborts. */
export function eventQueue(listeners: Set<(e: RuntimeEvent) => void>, signal?: AbortSignal): AsyncIterable<RuntimeEvent> {
  const queue: RuntimeEvent[] = [];
  let wake: (() => void) | undefined;
  const listener = (e: RuntimeEvent) => {
    queue.push(e);
    wake?.();
  };
  listeners.add(listener);
  return {
    async *[Symbol.asyncIterator]() {
      const stop = new Promise<void>((r) => signal?.addEventListener('abort', () => r(), { once: true }));
      try {
        while (!signal?.aborted) {
          if (queue.length) {
            yield queue.shift()!;
            continue;
          }
          await Promise.race([new Promise<void>((r) => (wake = r)), stop]);
        }
      } finally {
        listeners.delete(listener);
      }
    },
  };
}
