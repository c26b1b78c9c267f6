/**
 * Windows command lines: argv joined with Go's syscall.EscapeArg rules (what hcsshim sends
 * as ProcessParameters.CommandLine) and split back with the CommandLineToArgvW rules Go's
 * os package uses (what a Windows process sees). Round trip: split(join(a)) == a.
 */

export function escapeArg(s: string): string {
  if (s === '') return '""';
  const hasSpace = /[ \t]/.test(s);
  if (!hasSpace && !/["\\]/.test(s)) return s;
  let out = hasSpace ? '"' : '';
  let slashes = 0;
  for (const c of s) {
    if (c === '\\') {
      slashes++;
      out += c;
    } else if (c === '"') {
      out += '\\'.repeat(slashes) + '\\"';
      slashes = 0;
    } else {
      slashes = 0;
      out += c;
    }
  }
  if (hasSpace) out += '\\'.repeat(slashes) + '"';
  return out;
}

export function joinCommandLine(args: string[]): string {
  return args.map(escapeArg).join(' ');
}

export function splitCommandLine(cmd: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < cmd.length) {
    if (cmd[i] === ' ' || cmd[i] === '\t') {
      i++;
      continue;
    }
    let arg = '';
    let inQuote = false;
    let slashes = 0;
    for (; i < cmd.length; i++) {
      const c = cmd[i]!;
      if ((c === ' ' || c === '\t') && !inQuote) break;
      if (c === '\\') {
        slashes++;
        continue;
      }
      if (c === '"') {
        arg += '\\'.repeat(slashes >> 1);
        if (slashes % 2 === 0) {
          // the "prior to 2008" rule Go follows: "" inside quotes is a literal quote
          if (inQuote && cmd[i + 1] === '"') {
            arg += '"';
            i++;
          }
          inQuote = !inQuote;
        } else arg += '"';
        slashes = 0;
        continue;
      }
      arg += '\\'.repeat(slashes) + c;
      slashes = 0;
    }
    args.push(arg + '\\'.repeat(slashes));
  }
  return args;
}
