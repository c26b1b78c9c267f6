/** A tiny terminal: applies \n, \r, ESC[nA/B and ESC[2K and returns the non-empty lines. */
export function screen(text: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\x1b') {
      const m = /^\x1b\[(\d*)([ABK])/.exec(text.slice(i));
      if (m) {
        const n = Number(m[1] || 1);
        if (m[2] === 'A') row = Math.max(0, row - n);
        if (m[2] === 'B') row += n;
        if (m[2] === 'K') lines[row] = '';
        while (lines.length <= row) lines.push('');
        i += m[0].length - 1;
        continue;
      }
    }
    if (ch === '\n') {
      row++;
      col = 0;
      while (lines.length <= row) lines.push('');
      continue;
    }
    if (ch === '\r') {
      col = 0;
      continue;
    }
    const line = lines[row] ?? '';
    lines[row] = line.slice(0, col) + ch + line.slice(col + 1);
    col++;
  }
  return lines.map((l) => l.trimEnd()).filter((l) => l !== '');
}
