import { InvalidArgumentError } from '@berth/image-format';
import { DockerfileParseError, type Instruction } from './dockerfile.js';
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
  const deps = stageDeps(stages, escape, metaArgs);
  const need = new Set<number>();
  const todo = [target];
  while (todo.length) {
    const i = todo.pop()!;
    if (need.has(i)) continue;
    need.add(i);
    todo.push(...deps[i]!);
  }
  return need;
}

/** For each stage, the earlier stages it uses (FROM, COPY --from, RUN --mount from=). */
export function stageDeps(stages: StageDecl[], escape: string, metaArgs: (name: string) => string | undefined): number[][] {
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
  return stages.map((_, i) => [...new Set(deps(i))]);
}

/** A Dockerfile's global ARGs (before the first FROM) and its stages. */
export function splitStages(instructions: Instruction[], escape: string): { meta: Instruction[]; stages: StageDecl[] } {
  const meta: Instruction[] = [];
  const stages: StageDecl[] = [];
  for (const ins of instructions) {
    if (ins.cmd === 'FROM') {
      const w = splitRawWords(ins.args[0] ?? '', escape);
      stages.push({ name: w.length === 3 ? w[2]!.toLowerCase() : undefined, from: ins, commands: [] });
    } else if (stages.length === 0) {
      if (ins.cmd !== 'ARG') throw new DockerfileParseError(ins.line, 'no build stage in current context');
      meta.push(ins);
    } else stages.at(-1)!.commands.push(ins);
  }
  if (stages.length === 0) throw new InvalidArgumentError('the Dockerfile (Dockerfile) cannot be empty');
  return { meta, stages };
}

/** The target's position (`--target`, else the last stage). */
export function targetStage(stages: StageDecl[], target: string | undefined): number {
  if (!target) return stages.length - 1;
  const idx = stages.findIndex((s) => s.name === target.toLowerCase());
  if (idx < 0) throw new InvalidArgumentError(`failed to reach build target ${target} in Dockerfile`);
  return idx;
}
