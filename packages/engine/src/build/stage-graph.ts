import type { Instruction } from './dockerfile.js';
import { parseMountSpec } from './run-mounts.js';
import { WordExpander, splitRawWords } from './words.js';

export interface StageDecl {
  name: string | undefined;
  from: Instruction;
  commands: Instruction[];
}

/**
 * The stages the target needs, as BuildKit decides: the target, and every stage it reaches
 * through FROM <stage>, COPY --from=<stage> and RUN --mount=...,from=<stage>. Names are
 * expanded with the global ARGs; a reference that is not a stage is an image.
 */
export function neededStages(stages: StageDecl[], target: number, escape: string, metaArgs: (name: string) => string | undefined): Set<number> {
  const ex = new WordExpander(escape, metaArgs);
  const word = (w: string): string => {
    try {
      return ex.word(w);
    } catch {
      return w;
    }
  };
  const index = (ref: string, before: number): number | undefined => {
    const lower = ref.toLowerCase();
    for (let i = before - 1; i >= 0; i--) if (stages[i]!.name === lower) return i;
    if (/^\d+$/.test(ref) && Number(ref) < before) return Number(ref);
    return undefined;
  };
  const deps = (i: number): number[] => {
    const st = stages[i]!;
    const out: number[] = [];
    const add = (ref: string | undefined): void => {
      if (ref === undefined) return;
      const d = index(word(ref), i);
      if (d !== undefined) out.push(d);
    };
    add(splitRawWords(st.from.args[0] ?? '', escape)[0]);
    for (const ins of st.commands) {
      if ((ins.cmd === 'COPY' || ins.cmd === 'ADD') && ins.flags['from'] !== undefined) add(ins.flags['from']);
      if (ins.cmd === 'RUN') {
        for (const spec of ins.flagLists?.['mount'] ?? []) {
          try {
            add(parseMountSpec(spec).from);
          } catch {
            // reported when the RUN runs
          }
        }
      }
    }
    return out;
  };
  const need = new Set<number>();
  const todo = [target];
  while (todo.length) {
    const i = todo.pop()!;
    if (need.has(i)) continue;
    need.add(i);
    todo.push(...deps(i));
  }
  return need;
}
