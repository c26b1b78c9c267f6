// `berth ps` runs through its own small bundle (src/fast/ps.ts) and hands every line or
// answer it does not handle to the whole CLI. Both must print the same bytes, and nothing
// about the code cache (corrupt, another node's, not V8's for this file, unwritable) may
// change what berth prints.
import { createServer, get, type Server } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { seededRegistry, type SeededRegistry } from '@berth/fixtures';
import { buildProgram } from '../src/cli.js';
import { completeBody, parsePsArgv } from '../src/fast/ps.js';
import { berthRunner, buildCli, removeCli, runProcess, sameUpToSecondTicks, type CliResult } from './support/cli.js';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';

/** The options commander hands `ps`'s action for `argv`, as the fields ps-view reads them. */
async function commanderFlags(argv: string[]): Promise<unknown> {
  const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
  const program = buildProgram({ code: 0, ctx: undefined, hostFlag: () => undefined, io }, argv[0]);
  let opts: Record<string, unknown> | undefined;
  program.hook('preAction', (_this, action) => {
    opts = action.opts();
    throw new Error('parsed');
  });
  await program.parseAsync(argv, { from: 'user' }).catch(() => undefined);
  return opts && normal(opts);
}

const normal = (o: Record<string, unknown>): unknown => ({
  all: Boolean(o['all']),
  quiet: Boolean(o['quiet']),
  size: Boolean(o['size']),
  latest: Boolean(o['latest']),
  trunc: o['trunc'] !== false,
  filter: o['filter'],
  format: o['format'],
  last: o['last'],
});

describe('the ps short path reads its command line as commander does', () => {
  it('gives the same flags for every line it takes', async () => {
    for (const argv of [
      ['ps'],
      ['ps', '-a'],
      ['ps', '-aq'],
      ['ps', '-qas'],
      ['ps', '--all', '--quiet', '--size', '--latest', '--no-trunc'],
      ['ps', '-f', 'name=x', '--filter', 'label=a=b', '--filter=status=exited', '-fid=1'],
      ['ps', '-af', 'name=x'],
      ['ps', '-aqfname=y'],
      ['ps', '--format', '{{.ID}}', '--format=table {{.Names}}'],
      ['ps', '--format', '-a'],
      ['ps', '-n', '2'],
      ['ps', '-n3'],
      ['ps', '--last', '-1'],
      ['ps', '--last=x'],
      ['container', 'ls', '-a'],
      ['container', 'list', '-q'],
      ['container', 'ps', '--format', 'json'],
    ]) {
      const fast = parsePsArgv(argv);
      expect(fast, argv.join(' ')).toBeDefined();
      expect(normal(fast as unknown as Record<string, unknown>), argv.join(' ')).toEqual(await commanderFlags(argv));
    }
  });

  it('leaves help, errors, global options, operands and other commands to the whole CLI', () => {
    for (const argv of [
      ['ps', '--help'],
      ['ps', '-h'],
      ['ps', '--bogus'],
      ['ps', '-x'],
      ['ps', '-ax'],
      ['ps', 'extra'],
      ['ps', '-'],
      ['ps', '--'],
      ['ps', '--all=1'],
      ['ps', '-f'],
      ['ps', '--format'],
      ['ps', '-n'],
      ['-H', 'unix:///x.sock', 'ps'],
      ['container', 'inspect', 'x'],
      ['images'],
    ]) {
      expect(parsePsArgv(argv), argv.join(' ')).toBeUndefined();
    }
  });
});

describe('the ps short path reads only answers it can', () => {
  const head = (status: string, headers: string[]): string => `HTTP/1.1 ${status}\r\n${headers.join('\r\n')}\r\n\r\n`;
  const ok = (headers: string[], body: string): Buffer => Buffer.from(head('200 OK', ['Api-Version: 1.50', ...headers]) + body);

  it('waits for the whole body, by its length or its chunks', () => {
    const full = ok(['Content-Length: 7'], '[1,2,3]');
    expect(completeBody(full.subarray(0, full.length - 2), false)).toBeUndefined();
    expect(completeBody(full, false)?.toString()).toBe('[1,2,3]');
    const chunked = ok(['Transfer-Encoding: chunked'], '3\r\n[1,\r\n4;x=y\r\n2,3]\r\n0\r\n\r\n');
    expect(completeBody(chunked.subarray(0, chunked.length - 5), false)).toBeUndefined();
    expect(completeBody(chunked, false)?.toString()).toBe('[1,2,3]');
    expect(completeBody(ok([], '[]'), false)).toBeUndefined();
    expect(completeBody(ok([], '[]'), true)?.toString()).toBe('[]');
  });

  it('refuses errors, older API versions, odd framing and cut bodies', () => {
    expect(completeBody(Buffer.from(head('400 Bad Request', ['Api-Version: 1.50', 'Content-Length: 2']) + '{}'), false)).toBeInstanceOf(Error);
    expect(completeBody(Buffer.from(head('200 OK', ['Api-Version: 1.41', 'Content-Length: 2']) + '[]'), false)).toBeInstanceOf(Error);
    expect(completeBody(Buffer.from(head('200 OK', ['Content-Length: 2']) + '[]'), false)).toBeInstanceOf(Error);
    expect(completeBody(ok(['Transfer-Encoding: gzip, chunked'], ''), false)).toBeInstanceOf(Error);
    expect(completeBody(ok(['Content-Length: 9'], '[1]'), true)).toBeInstanceOf(Error);
    expect(completeBody(ok(['Transfer-Encoding: chunked'], '3\r\n[1]'), true)).toBeInstanceOf(Error);
    expect(completeBody(Buffer.from('HTTP/1.1 200'), true)).toBeInstanceOf(Error);
  });
});

describe('berth ps through the short path and through the whole CLI', () => {
  let t: TestDaemon;
  let reg: SeededRegistry;
  let bin: string;
  let work: string;
  let berth: ReturnType<typeof berthRunner>['berth'];
  let berthOk: ReturnType<typeof berthRunner>['berthOk'];
  const suffix = Math.random().toString(16).slice(2, 8);
  const name = (n: string): string => `fps-${n}-${suffix}`;

  beforeAll(async () => {
    [bin, reg, t, work] = await Promise.all([buildCli(), seededRegistry(), startTestDaemon(), mkdtemp(join(tmpdir(), 'berth-fast-ps-'))]);
    ({ berth, berthOk } = berthRunner(bin, t.berthEnv));
    await berthOk(['pull', '-q', reg.busybox], { timeoutMs: 120_000 });
    await berthOk(['run', '-d', '--name', name('web'), '-l', 'tier=web', '-l', 'b=2', '--network', 'none', reg.busybox, 'sleep', '300']);
    await berthOk(['create', '--name', name('made'), '-l', 'tier=db', reg.busybox, 'echo', 'a "quoted" command']);
    expect((await berth(['run', '--name', name('done'), '--network', 'none', reg.busybox, 'sh', '-c', 'exit 3'])).code).toBe(3);
  }, 180_000);
  afterAll(async () => {
    if (t) {
      for (const n of ['web', 'made', 'done']) await berthOk(['rm', '-f', name(n)]).catch(() => undefined);
      await t.stop();
    }
    await reg?.stop();
    await removeCli(bin);
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** berth with its code cache in `cache` (and other environment changes). */
  const run = (args: string[], cache: string, env: NodeJS.ProcessEnv = {}, file = bin): Promise<CliResult> =>
    runProcess(process.execPath, [file, ...args], { ...t.berthEnv, XDG_CACHE_HOME: cache, ...env });
  /** The whole CLI for the same line: a global option (the default log level) keeps the launcher off the short path. */
  const whole = (args: string[], cache: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> => run(['--log-level', 'info', ...args], cache, env);

  /** Both paths until they agree (a "N seconds ago" may tick between them). */
  async function both(args: string[], fastCache: string, env: NodeJS.ProcessEnv = {}): Promise<{ fast: CliResult; full: CliResult }> {
    let fast: CliResult | undefined;
    let full: CliResult | undefined;
    for (let i = 0; i < 5; i++) {
      [fast, full] = await Promise.all([run(args, fastCache, env), whole(args, join(work, 'whole-cache'), env)]);
      if (fast.stdout === full.stdout) break;
    }
    if (fast!.stdout !== full!.stdout && sameUpToSecondTicks(fast!.stdout, full!.stdout)) full = { ...full!, stdout: fast!.stdout };
    return { fast: fast!, full: full! };
  }

  it('prints the same for every format, filter and flag, without loading the whole CLI', async () => {
    const cache = join(work, 'fast-cache');
    for (const args of [
      ['ps'],
      ['ps', '-a'],
      ['ps', '-a', '--no-trunc'],
      ['ps', '-q'],
      ['ps', '-aq'],
      ['ps', '-as'],
      ['ps', '-n', '2'],
      ['ps', '--latest', '--format', '{{.Names}}'],
      ['ps', '-a', '--format', '{{.ID}} {{.Names}} {{.Image}} {{.Command}} {{.Status}} {{.State}} {{.Size}}'],
      ['ps', '-a', '--format', 'table {{.ID}}\t{{.Names}}\t{{.Label "tier"}}\t{{.Labels}}\t{{.Mounts}}\t{{.Networks}}'],
      ['ps', '-a', '--format', '{{json .}}'],
      ['ps', '-a', '--format', 'json'],
      ['ps', '-a', '--format', 'table'],
      ['ps', '-af', 'status=exited'],
      ['ps', '-a', '--filter', 'label=tier', '--filter=status=created', '-q'],
      ['ps', '-a', '--filter', `name=${name('web')}`, '--format', '{{.Names}}'],
      ['container', 'ls', '-a', '--format', '{{.Names}} {{.RunningFor}}'],
    ]) {
      const { fast, full } = await both(args, cache);
      expect(fast.code, args.join(' ')).toBe(0);
      expect(fast, args.join(' ')).toEqual(full);
      expect(fast.stdout, args.join(' ')).not.toBe('');
    }
    // every line above was answered by the short path: the whole CLI never ran
    expect((await readdir(join(cache, 'berth'))).map((f) => f.replace(/-v.*/, ''))).toEqual(['ps']);
  });

  it('hands help, flag, filter and template errors and the daemon\'s errors to the whole CLI', async () => {
    for (const args of [['ps', '--help'], ['ps', '--bogus'], ['ps', 'extra'], ['ps', '-f', 'nonsense'], ['ps', '-f', 'nosuchkey=1'], ['ps', '-n'], ['ps', '-a', '--format', '{{.Nope}}'], ['ps', '-a', '--format', '{{if}}']]) {
      const { fast, full } = await both(args, join(work, 'fallback-cache'));
      expect(fast, args.join(' ')).toEqual(full);
      // --help and an unknown field (which renders as docker renders it) are not errors
      if (args[1] !== '--help' && args[3] !== '{{.Nope}}') expect(fast.code, args.join(' ')).not.toBe(0);
    }
    const gone = { BERTH_HOST: `unix://${join(work, 'nobody.sock')}` };
    const { fast, full } = await both(['ps', '-a'], join(work, 'fallback-cache'), gone);
    expect(fast).toEqual(full);
    expect(fast.stderr).toMatch(/Cannot connect to the Berth daemon/);
  });

  it('leaves a daemon with an older API to the whole CLI, which negotiates it', async () => {
    // An older daemon (API 1.41, as dockerd 20.10) cannot run in CI: this stands in for its
    // /_ping and /containers/json, answering with berthd's own list.
    const list = await berthdList(t.socketPath);
    const seen: string[] = [];
    const old: Server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.setHeader('Api-Version', '1.41');
      if (req.url === '/_ping') res.end('OK');
      else if (req.url?.startsWith('/v1.41/containers/json')) res.setHeader('Content-Type', 'application/json').end(list);
      else res.writeHead(400).end('{"message":"client version 1.50 is too new. Maximum supported API version is 1.41"}');
    });
    const sock = join(work, 'old.sock');
    await new Promise<void>((r) => old.listen(sock, r));
    try {
      const env = { BERTH_HOST: `unix://${sock}` };
      const fast = await run(['ps', '-a', '--format', '{{.Names}}'], join(work, 'old-cache'), env);
      expect(fast.code).toBe(0);
      expect(seen).toEqual(['/v1.50/containers/json?all=1&size=0', '/_ping', '/v1.41/containers/json?all=1&size=0']);
      expect(fast).toEqual(await whole(['ps', '-a', '--format', '{{.Names}}'], join(work, 'old-cache'), env));
      expect(fast.stdout.split('\n').sort()).toEqual(['', name('done'), name('made'), name('web')].sort());
    } finally {
      await new Promise((r) => old.close(r));
    }
  });

  it('asks a Unix socket without node:net, quietly under --pending-deprecation, and a TCP host through node:net', async () => {
    const line = ['ps', '-a', '--format', '{{.Names}} {{.State}}'];
    const expected = await whole(line, join(work, 'pipe-whole-cache'));
    expect(expected.code).toBe(0);
    // which of node's modules the short path loaded (src/fast/pipe.ts: no net, no streams)
    const loaded = join(work, 'modules.txt');
    const preload = join(work, 'modules.cjs');
    await writeFile(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(loaded)}, process.moduleLoadList.join('\\n')));\n`);
    const cache = join(work, 'pipe-cache');
    expect(await run(line, cache, { NODE_OPTIONS: `--require=${preload}` })).toEqual(expected);
    const modules = (await readFile(loaded, 'utf8')).split('\n');
    expect(modules).toContain('Internal Binding pipe_wrap');
    expect(modules).not.toContain('NativeModule net');
    expect(modules).not.toContain('NativeModule stream');
    // process.binding() is deprecated: its warning (or throw) must not reach the user
    expect(await run(line, cache, { NODE_OPTIONS: '--pending-deprecation --throw-deprecation' })).toEqual(expected);
    expect(await run(line, cache, { NODE_PENDING_DEPRECATION: '1' })).toEqual(expected);
    // a TCP host: node:net, same answer
    const proxy = createNetServer((c) => {
      const u = netConnect(t.socketPath);
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
      c.pipe(u).pipe(c);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const tcp = { BERTH_HOST: `tcp://127.0.0.1:${(proxy.address() as AddressInfo).port}` };
      expect(await run(line, cache, { ...tcp, NODE_OPTIONS: `--require=${preload}` })).toEqual(expected);
      expect((await readFile(loaded, 'utf8')).split('\n')).toContain('NativeModule net');
      expect(await whole(line, join(work, 'pipe-whole-cache'), tcp)).toEqual(expected);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
    expect((await readdir(cache)).length).toBe(1);
    expect((await readdir(join(cache, 'berth'))).map((f) => f.replace(/-v.*/, ''))).toEqual(['ps']);
  });

  describe('the code cache never changes what berth prints', () => {
    const line = ['ps', '-a', '--format', '{{.Names}} {{.State}} {{.Command}} {{.Labels}}'];
    let expected: string;
    let psCacheName: string;

    beforeAll(async () => {
      const { size, mtimeMs } = await stat(join(dirname(bin), 'berth-ps.js'));
      psCacheName = `ps-${process.version}-${process.arch}-${size}-${Math.floor(mtimeMs)}.cache`;
      expected = (await whole(line, join(work, 'ref-cache'))).stdout;
      expect(expected.split('\n')).toHaveLength(4);
    });
    const same = (r: CliResult): void => {
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(expected);
    };

    it('rewrites a corrupt cache, and one V8 made for another file', async () => {
      const cache = join(work, 'corrupt');
      await mkdir(join(cache, 'berth'), { recursive: true });
      const file = join(cache, 'berth', psCacheName);
      await writeFile(file, 'not V8 code');
      same(await run(line, cache));
      const good = await readFile(file);
      expect(good.length).toBeGreaterThan(10_000);
      // the whole CLI's cache, under the short path's name: V8 rejects it (another source)
      await run(['images', '--help'], cache);
      const main = (await readdir(join(cache, 'berth'))).find((f) => f.startsWith('main-'))!;
      const mainCode = await readFile(join(cache, 'berth', main));
      await writeFile(file, mainCode);
      same(await run(line, cache));
      expect(Buffer.compare(await readFile(file), mainCode)).not.toBe(0);
      same(await run(line, cache));
    });

    it("ignores another node's cache and removes it", async () => {
      const cache = join(work, 'other-node');
      await mkdir(join(cache, 'berth'), { recursive: true });
      const other = psCacheName.replace(process.version, 'v18.0.0');
      await writeFile(join(cache, 'berth', other), 'another V8');
      same(await run(line, cache));
      expect(await readdir(join(cache, 'berth'))).toEqual([psCacheName]);
    });

    it('runs from a cache folder it cannot write, or cannot make', async () => {
      // a real read-only mount, in a mount namespace of its own (gone with the command)
      const ro = join(work, 'read-only');
      await mkdir(join(ro, 'berth'), { recursive: true });
      await writeFile(join(ro, 'berth', psCacheName), 'not V8 code');
      const r = await runProcess(
        'unshare',
        ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', ro, process.execPath, bin, ...line],
        { ...t.berthEnv, XDG_CACHE_HOME: ro },
      );
      same(r);
      expect(await readFile(join(ro, 'berth', psCacheName), 'utf8')).toBe('not V8 code');
      // a file where the folder should be
      const file = join(work, 'a-file');
      await writeFile(file, '');
      same(await run(line, file));
      same(await run(line, join(file, 'below')));
    });

    it('runs the whole CLI when the short path\'s bundle is missing or not this build\'s', async () => {
      const copy = join(work, 'no-ps-bundle');
      await cp(dirname(bin), copy, { recursive: true });
      await rm(join(copy, 'berth-ps.js'));
      const cache = join(work, 'no-ps-cache');
      same(await run(line, cache, {}, join(copy, 'berth.js')));
      expect((await readdir(join(cache, 'berth'))).map((f) => f.replace(/-v.*/, ''))).toEqual(['main']);
      // one that is not this build's (no runPs), or does not compile
      for (const text of ['(function (exports) { exports.other = 1; \n});', '(function (exports) { not javascript']) {
        await writeFile(join(copy, 'berth-ps.js'), text);
        same(await run(line, cache, {}, join(copy, 'berth.js')));
      }
    });
  });
});

/** berthd's own answer to GET /containers/json?all=1, over its socket. */
function berthdList(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ socketPath, path: '/v1.50/containers/json?all=1&size=0' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(text));
      res.on('error', reject);
    }).on('error', reject);
  });
}
