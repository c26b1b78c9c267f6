// Go's text/tabwriter, as docker's table output uses it (minwidth 10, tabwidth 1,
// padding 3, pad with spaces): tab-terminated cells of consecutive lines form a column
// block whose width is its widest cell plus padding; the text after the last tab of a
// line is not part of any column.

interface TabwriterOptions {
  minWidth?: number;
  padding?: number;
}

interface Cell {
  text: string;
  width: number;
}

/** Aligns `text` (lines of tab-separated cells) exactly like Go's tabwriter. */
export function tabwrite(text: string, options: TabwriterOptions = {}): string {
  const minWidth = options.minWidth ?? 10;
  const padding = options.padding ?? 3;
  const endsWithNewline = text.endsWith('\n');
  const rawLines = (endsWithNewline ? text.slice(0, -1) : text).split('\n');
  let out = '';
  let block: Cell[][] = [];
  const flush = (): void => {
    if (block.length === 0) return;
    out += formatBlock(block, minWidth, padding);
    block = [];
  };
  rawLines.forEach((line) => {
    const cells = line.split('\t').map((t) => ({ text: t, width: runeWidth(t) }));
    block.push(cells);
    // Go flushes at a line with one cell: columns never span across it.
    if (cells.length === 1) flush();
  });
  flush();
  if (!endsWithNewline) out = out.slice(0, -1);
  return out;
}

function formatBlock(lines: Cell[][], minWidth: number, padding: number): string {
  const widths: number[] = [];
  let out = '';
  const writeLines = (line0: number, line1: number): void => {
    for (let i = line0; i < line1; i++) {
      const line = lines[i] as Cell[];
      let s = '';
      line.forEach((c, j) => {
        s += c.text;
        if (j < widths.length) s += ' '.repeat(Math.max(0, (widths[j] as number) - c.width));
      });
      out += `${s}\n`;
    }
  };
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= (lines[cur] as Cell[]).length - 1) continue;
      writeLines(line0, cur);
      line0 = cur;
      let width = minWidth;
      for (; cur < line1; cur++) {
        const line = lines[cur] as Cell[];
        if (column >= line.length - 1) break;
        const w = (line[column] as Cell).width + padding;
        if (w > width) width = w;
      }
      widths.push(width);
      format(line0, cur);
      widths.pop();
      line0 = cur;
      cur--; // the for loop's increment re-examines `cur` as Go's does after the block
    }
    writeLines(line0, line1);
  };
  format(0, lines.length);
  return out;
}

/** Width in runes (Go counts UTF-8 runes, not display cells). */
function runeWidth(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
