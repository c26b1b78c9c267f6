import { splitRawWords } from './words.js';

/** One here-document of a RUN/COPY/ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`), its body as written. */
export interface Heredoc {
  /** The delimiter, quotes removed. */
  name: string;
  /** The body, each line ending in `\n` (leading tabs already removed for `<<-`). */
  data: string;
  /** `<<-`: leading tabs were stripped from the body and the delimiter line. */
  chomp: boolean;
  /** Unquoted delimiter: `$VAR`s in the body are expanded (COPY/ADD; a RUN's shell expands its own). */
  expand: boolean;
}

const HEREDOC_WORD = /^(\d*)<<(-?)(.+)$/;

/** BuildKit's heredoc word (`[fd]<<[-]NAME`, NAME maybe quoted), or undefined. */
export function parseHeredocWord(word: string): Omit<Heredoc, 'data'> | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const raw = m[3]!;
  if (raw.startsWith('<')) return undefined;
  const quoted = /["']/.test(raw);
  const name = raw.replace(/^(["'])(.*)\1$/, '$2').replace(/["']/g, '');
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) return undefined;
  return { name, chomp: m[2] === '-', expand: !quoted };
}

/** The heredoc words of an instruction's argument text, in order (a quoted `'<<EOF'` is not one). */
export function heredocWords(text: string, escape: string): Omit<Heredoc, 'data'>[] {
  const out: Omit<Heredoc, 'data'>[] = [];
  for (const w of splitRawWords(text, escape)) {
    if (w.startsWith('"') || w.startsWith("'")) continue;
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/**
 * Reads the heredoc bodies that follow an instruction, from `lines[from]` on: each ends at
 * a line that is its delimiter (after leading tabs for `<<-`). Returns the bodies and the
 * index of the first line after them, or the delimiter that never came.
 */
export function readHeredocBodies(lines: string[], from: number, docs: Omit<Heredoc, 'data'>[]): { heredocs: Heredoc[]; next: number } | { missing: string } {
  const heredocs: Heredoc[] = [];
  let i = from;
  for (const doc of docs) {
    let data = '';
    for (;;) {
      if (i >= lines.length) return { missing: doc.name };
      const line = lines[i++]!;
      const body = doc.chomp ? line.replace(/^\t+/, '') : line;
      if (body === doc.name) break;
      data += body + '\n';
    }
    heredocs.push({ ...doc, data });
  }
  return { heredocs, next: i };
}

/** Where a shebang heredoc's script is put for its RUN (BuildKit's path). */
export const HEREDOC_SCRIPT_DIR = '/dev/pipes';

/**
 * What a shell-form RUN with heredocs runs, as BuildKit does: a RUN that is one heredoc
 * alone runs its body with the shell, or as a script when it starts with `#!`; any other
 * form is handed whole (heredocs included) to the shell, which reads them itself.
 */
export function heredocRunCommand(command: string, heredocs: Heredoc[]): { script?: { name: string; data: string }; command: string } {
  const only = heredocs.length >= 1 && parseHeredocWord(command.trim());
  if (only) {
    const doc = heredocs[0]!;
    if (doc.data.startsWith('#!')) return { script: { name: doc.name, data: doc.data }, command: `${HEREDOC_SCRIPT_DIR}/${doc.name}` };
    return { command: doc.data };
  }
  let full = command;
  for (const doc of heredocs) full += `\n${doc.data}${doc.name}`;
  return { command: full };
}
