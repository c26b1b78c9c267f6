// A command line that names a top-level command builds that command alone (program/only.ts):
// it must be the very command the whole tree holds, and anything else must get the whole tree.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram, runCli } from '../src/cli.js';
import { namedCommand } from '../src/program/only.js';

function streams(): { io: { stdin: PassThrough; stdout: PassThrough; stderr: PassThrough }; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d) => (o += d));
  stderr.on('data', (d) => (e += d));
  return { io: { stdin: new PassThrough(), stdout, stderr }, out: () => o, err: () => e };
}

const state = () => ({ code: 0, ctx: undefined, hostFlag: () => undefined, io: streams().io });

/** Everything commander parses and prints by, for a command and all below it. */
function shape(cmd: Command): unknown {
  const c = cmd as Command & { _passThroughOptions: boolean; _enablePositionalOptions: boolean; _args: { _name: string; required: boolean; variadic: boolean }[] };
  return {
    name: cmd.name(),
    aliases: cmd.aliases(),
    help: cmd.helpInformation(),
    passThrough: c._passThroughOptions,
    args: c._args.map((a) => [a._name, a.required, a.variadic]),
    options: cmd.options.map((o) => [o.flags, o.defaultValue, o.hidden, o.negate, o.required, o.optional, o.variadic, Boolean(o.parseArg)]),
    commands: cmd.commands.map(shape),
  };
}

describe('the command tree built for one command', () => {
  it('finds the command a line names, past the global options', () => {
    expect(namedCommand(['ps', '-a'])).toBe('ps');
    expect(namedCommand(['-H', 'unix:///x.sock', 'ps'])).toBe('ps');
    expect(namedCommand(['--host', '-weird', '-D', 'container', 'ls'])).toBe('container');
    expect(namedCommand(['--host=tcp://1.2.3.4:5', '-lerror', '--log-level', 'debug', '--debug', 'run', 'busybox'])).toBe('run');
    expect(namedCommand(['-Hunix:///x', 'images'])).toBe('images');
    // the whole tree answers these
    for (const argv of [[], ['--help'], ['-v'], ['--version'], ['--bogus', 'ps'], ['-DH', 'x', 'ps'], ['--', 'ps'], ['-H']]) {
      expect(namedCommand(argv), argv.join(' ')).toBeUndefined();
    }
  });

  it('is, for every top-level command, the same command as in the whole tree, alone', () => {
    const whole = buildProgram(state());
    const names = whole.commands.map((c) => c.name()).filter((n) => n !== 'completion');
    expect(names.length).toBeGreaterThan(40);
    for (const name of names) {
      const one = buildProgram(state(), name);
      expect(one.commands.map((c) => c.name()), name).toEqual([name]);
      expect(shape(one.commands[0]!), name).toEqual(shape(whole.commands.find((c) => c.name() === name)!));
      expect(one.options.map((o) => o.flags)).toEqual(whole.options.map((o) => o.flags));
    }
  });

  it('answers a name that is no top-level command with the whole tree', async () => {
    const typo = streams();
    expect(await runCli(['pss'], typo.io)).toBe(125);
    expect(typo.err()).toBe("error: unknown command 'pss'\n(Did you mean ps?)\n");
    const help = streams();
    expect(await runCli(['help'], help.io)).toBe(0);
    expect(help.out()).toMatch(/^ {2}volume\b/m);
    const completion = streams();
    expect(await runCli(['completion', 'bash'], completion.io)).toBe(0);
    expect(completion.out()).toMatch(/"volume"\) words="create ls list rm/);
  });

  it('parses a command line as the whole tree does', async () => {
    const argv = ['-H', 'unix:///nonexistent/berth-lazy.sock', 'ps', '--bogus'];
    const lazy = streams();
    expect(await runCli(argv, lazy.io)).toBe(125);
    expect(lazy.err()).toBe("error: unknown option '--bogus'\n");
    const help = streams();
    expect(await runCli(['-D', 'container', 'ls', '--help'], help.io)).toBe(0);
    expect(help.out()).toContain('Usage: berth container ls|ps [options]');
  });
});
