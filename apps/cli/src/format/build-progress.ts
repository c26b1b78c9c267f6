// BuildKit's progress display (`--progress plain|tty`) drawn from the classic build stream
// berthd sends: each "Step i/n : INSTRUCTION" becomes a vertex, what follows it its logs.
import type { JsonMessage } from '@berth/engine-api';
import type { ProgressOutput } from './progress.js';

interface Vertex {
  n: number;
  name: string;
  start: number;
  end?: number;
  cached: boolean;
  error?: string;
  logs: string[];
}

const STEP = /^Step (\d+)\/(\d+) : (.*)$/s;
/** The classic stream's bookkeeping lines, which BuildKit's display has no place for. */
const NOISE = /^( ---> |Removing intermediate container |Successfully built )/;
const TTY_LOG_LINES = 6;

export class BuildProgress {
  private readonly vertices: Vertex[] = [];
  private current: Vertex | undefined;
  private line = '';
  private readonly started: number;
  private drawn = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly tags: string[] = [];
  private id = '';

  constructor(
    private readonly out: ProgressOutput,
    private readonly mode: 'plain' | 'tty',
    private readonly columns = 80,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
    if (mode === 'tty') {
      this.timer = setInterval(() => this.draw(), 100);
      this.timer.unref?.();
    }
  }

  /** The context upload, as BuildKit's first vertex shows it. */
  context(size: number | undefined): void {
    const v = this.begin('[internal] load build context');
    if (size !== undefined) this.log(v, `transferring context: ${formatBytes(size)} done`);
    this.finish(v);
  }

  message(m: JsonMessage): void {
    if (m.aux) {
      if (typeof m.aux['ID'] === 'string') this.id = m.aux['ID'];
      return;
    }
    if (m.stream !== undefined) {
      this.line += m.stream.replace(/\x1b\[(91|0)m/g, '');
      let nl: number;
      while ((nl = this.line.indexOf('\n')) >= 0) {
        this.streamLine(this.line.slice(0, nl));
        this.line = this.line.slice(nl + 1);
      }
      return;
    }
    // pull progress: one line per status (bars have no place in either display)
    if (m.status && !m.progressDetail?.total) this.log(this.current ?? this.begin('[internal] load metadata'), `${m.id ? `${m.id}: ` : ''}${m.status}`);
  }

  /** The failed step's error; the build's output ends. */
  fail(message: string): void {
    if (this.line) this.streamLine(this.line);
    const v = this.current ?? this.begin('[internal] build');
    v.error = message;
    this.finish(v);
    this.stop();
  }

  /** The build finished: the export vertex (image ID and names), the final display. */
  done(id: string): void {
    if (this.line) this.streamLine(this.line);
    if (this.current) this.finish(this.current);
    const v = this.begin('exporting to image');
    this.log(v, `writing image ${id || this.id} done`);
    for (const t of this.tags) this.log(v, `naming to ${t} done`);
    this.finish(v);
    this.stop();
  }

  private streamLine(text: string): void {
    const step = STEP.exec(text);
    if (step) {
      if (this.current) this.finish(this.current);
      this.current = this.begin(`[${step[1]}/${step[2]}] ${step[3]}`);
      return;
    }
    if (text === ' ---> Using cache') {
      if (this.current) this.current.cached = true;
      return;
    }
    const tagged = /^Successfully tagged (.+)$/.exec(text);
    if (tagged) {
      this.tags.push(tagged[1]!);
      return;
    }
    if (NOISE.test(text) || text === '') return;
    this.log(this.current ?? this.begin('[internal] build'), text);
  }

  private begin(name: string): Vertex {
    const v: Vertex = { n: this.vertices.length + 1, name, start: this.now(), cached: false, logs: [] };
    this.vertices.push(v);
    if (this.mode === 'plain') this.out.write(`#${v.n} ${name}\n`);
    return v;
  }

  private log(v: Vertex, text: string): void {
    v.logs.push(text);
    if (this.mode === 'plain') this.out.write(`#${v.n} ${((this.now() - v.start) / 1000).toFixed(3)} ${text}\n`);
  }

  private finish(v: Vertex): void {
    if (v.end !== undefined) return;
    v.end = this.now();
    if (this.current === v) this.current = undefined;
    if (this.mode !== 'plain') return;
    if (v.error) this.out.write(`#${v.n} ERROR: ${v.error}\n\n`);
    else if (v.cached) this.out.write(`#${v.n} CACHED\n\n`);
    else this.out.write(`#${v.n} DONE ${seconds(v.end - v.start)}\n\n`);
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.mode === 'tty') this.draw(true);
  }

  /** The tty display: redrawn in place, the running step's last log lines under it. */
  private draw(final = false): void {
    const t = this.now();
    const doneCount = this.vertices.filter((v) => v.end !== undefined).length;
    const failed = this.vertices.some((v) => v.error);
    const lines = [`[+] Building ${seconds(t - this.started)} (${doneCount}/${this.vertices.length})${final ? (failed ? ' FINISHED with error' : ' FINISHED') : ''}`];
    for (const v of this.vertices) {
      const label = `${v.error ? 'ERROR ' : v.cached ? 'CACHED ' : ''}${v.name.replace(/\s+/g, ' ')}`;
      const time = seconds((v.end ?? t) - v.start);
      const room = Math.max(10, this.columns - time.length - 5);
      const shown = label.length > room ? `${label.slice(0, room - 3)}...` : label;
      lines.push(` => ${shown.padEnd(room)} ${time}`);
      if (v.end === undefined || v.error) for (const l of v.logs.slice(-TTY_LOG_LINES)) lines.push(` => => # ${l}`.slice(0, this.columns - 1));
    }
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    // a shorter display than the last one: clear what is left below it
    for (let i = lines.length; i < this.drawn; i++) s += '\x1b[2K\n';
    if (this.drawn > lines.length) s += `\x1b[${this.drawn - lines.length}A`;
    this.drawn = lines.length;
    this.out.write(s);
  }
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['kB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)}${units[i]}`;
}
