import type { EventMessage, EventType, Filters } from './docker-types.js';
import type { EventService, EventSubscription } from './services.js';
import { FilterSet } from './filters.js';

const HISTORY = 1000;

/** In-process events bus: a bounded history for `since`, and live subscribers. */
export class EventBus implements EventService {
  private readonly history: EventMessage[] = [];
  private readonly subs = new Set<(e: EventMessage) => void>();

  get listeners(): number {
    return this.subs.size;
  }

  emit(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): EventMessage {
    const nowNs = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    const msg: EventMessage = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === 'container' || type === 'image') {
      msg.status = action;
      msg.id = id;
      if (type === 'container' && attributes.image) msg.from = attributes.image;
    }
    this.history.push(msg);
    if (this.history.length > HISTORY) this.history.shift();
    for (const s of this.subs) s(msg);
    return msg;
  }

  subscribe(opts: { since?: number; until?: number; filters?: Filters } = {}): EventSubscription {
    const f = new FilterSet(opts.filters, ['type', 'event', 'action', 'container', 'image', 'volume', 'network', 'label', 'daemon', 'scope']);
    const match = (e: EventMessage): boolean => matches(f, e);
    const queue: EventMessage[] = [];
    let wake: (() => void) | undefined;
    let closed = false;
    const untilMs = opts.until !== undefined ? opts.until * 1000 : undefined;
    if (opts.since !== undefined) {
      const sinceNs = opts.since * 1e9;
      for (const e of this.history) if (e.timeNano >= sinceNs && match(e)) queue.push(e);
    }
    const onEvent = (e: EventMessage): void => {
      if (match(e)) {
        queue.push(e);
        wake?.();
      }
    };
    this.subs.add(onEvent);
    let timer: NodeJS.Timeout | undefined;
    const close = (): void => {
      closed = true;
      this.subs.delete(onEvent);
      if (timer) clearTimeout(timer);
      wake?.();
    };
    if (untilMs !== undefined) timer = setTimeout(close, Math.max(0, untilMs - Date.now()));
    return {
      close,
      async *[Symbol.asyncIterator]() {
        try {
          for (;;) {
            while (queue.length > 0) {
              const e = queue.shift()!;
              if (untilMs !== undefined && e.timeNano / 1e6 > untilMs) return;
              yield e;
            }
            if (closed) return;
            await new Promise<void>((r) => (wake = r));
            wake = undefined;
          }
        } finally {
          close();
        }
      },
    };
  }
}

function matches(f: FilterSet, e: EventMessage): boolean {
  const a = e.Actor.Attributes;
  const idOrName = (v: string): boolean => e.Actor.ID === v || e.Actor.ID.startsWith(v) || a.name === v;
  return (
    f.matchAny('type', (v) => v === e.Type) &&
    f.matchAny('event', (v) => v === e.Action || e.Action.startsWith(v + ':')) &&
    f.matchAny('action', (v) => v === e.Action) &&
    (!f.has('container') || (e.Type === 'container' && f.matchAny('container', idOrName))) &&
    (!f.has('image') || f.matchAny('image', (v) => a.image === v || e.Actor.ID === v || (e.Type === 'image' && a.name === v))) &&
    (!f.has('volume') || (e.Type === 'volume' && f.matchAny('volume', idOrName))) &&
    (!f.has('network') || (e.Type === 'network' && f.matchAny('network', idOrName))) &&
    f.matchLabels('label', a) &&
    f.matchAny('scope', (v) => v === e.scope)
  );
}
