import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile.js';
import { WordExpander } from './words.js';

describe('parseDockerfile', () => {
  it('joins continuations, drops comments, reads flags and both forms', () => {
    const df = parseDockerfile(
      ['# a comment', 'FROM busybox AS build', 'RUN echo a \\', '  # inside', '    && echo b', 'COPY --chown=1:2 --from=build a b/', 'CMD ["sh", "-c", "x"]', 'ENV A=1 B="two words"'].join('\n'),
    );
    expect(df.instructions.map((i) => i.cmd)).toEqual(['FROM', 'RUN', 'COPY', 'CMD', 'ENV']);
    const run = df.instructions[1]!;
    expect(run.line).toBe(3);
    expect(run.args).toEqual(['echo a     && echo b']);
    expect(df.instructions[2]!.flags).toEqual({ chown: '1:2', from: 'build' });
    expect(df.instructions[3]).toMatchObject({ json: true, args: ['sh', '-c', 'x'] });
  });

  it('honours the escape directive', () => {
    const df = parseDockerfile('# escape=`\nFROM busybox\nRUN echo a `\n  b\n');
    expect(df.escape).toBe('`');
    expect(df.instructions[1]!.args).toEqual(['echo a   b']);
  });

  it('reports bad input with line numbers as Docker does', () => {
    expect(() => parseDockerfile('FROM busybox\n\nFOO bar\n')).toThrow('dockerfile parse error line 3: unknown instruction: FOO');
    expect(() => parseDockerfile('FROM busybox\nENV a=b c\n')).toThrow(/line 2: Syntax error - can't find = in "c"/);
    expect(() => parseDockerfile('FROM a b\n')).toThrow('dockerfile parse error line 1: FROM requires either one or three arguments');
    expect(() => parseDockerfile('FROM busybox\nCOPY onlyone\n')).toThrow(/line 2: COPY requires at least two arguments/);
    expect(() => parseDockerfile('FROM busybox\nRUN --mounts=type=cache true\n')).toThrow(/line 2: Unknown flag: mounts/);
    expect(() => parseDockerfile('FROM busybox\nSHELL sh -c\n')).toThrow(/line 2: SHELL requires the arguments to be in JSON form/);
    expect(() => parseDockerfile('FROM busybox\nONBUILD FROM x\n')).toThrow(/FROM isn't allowed as an ONBUILD trigger/);
  });
});

describe('WordExpander', () => {
  const vars: Record<string, string> = { A: 'x', EMPTY: '' };
  const ex = new WordExpander('\\', (n) => vars[n]);
  it('expands variables with Docker modifiers', () => {
    expect(ex.word('$A-${A}')).toBe('x-x');
    expect(ex.word('${NOPE:-def}/${EMPTY:-e}/${EMPTY-e}')).toBe('def/e/');
    expect(ex.word('${A:+set}${NOPE:+no}')).toBe('set');
    expect(ex.word("'$A'\"$A\"\\$A")).toBe('$Ax$A');
    expect(ex.words('a "b c" $A')).toEqual(['a', 'b c', 'x']);
  });
});
