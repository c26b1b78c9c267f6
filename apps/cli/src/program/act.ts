// What the command tree's files share: how an action is loaded and called, and flag helpers.
import type { Context } from '../context.js';

/** A repeatable flag's values, in order. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export type Action = (ctx: Context, ...args: never[]) => Promise<number>;

/**
 * Makes a commander action of a command's action, imported only when the command runs (so
 * `berth` starts without loading every command); buildProgram in cli.ts makes it.
 */
export type Act = <A extends unknown[]>(load: () => Promise<(ctx: Context, ...args: A) => Promise<number>>) => (...args: A) => Promise<void>;

/** commander passes (args..., options, command): drops the trailing command object. */
export const strip = <T extends unknown[]>(args: T): T => args.slice(0, -1) as T;
