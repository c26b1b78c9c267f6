/**
 * CommonJS's module wrapper (node:module's Module.wrapper): the build puts dist/berth-main.js
 * inside it, and the launcher calls the function it compiles to as node calls a module's.
 */
export const MODULE_WRAPPER = ['(function (exports, require, module, __filename, __dirname) { ', '\n});'] as const;
