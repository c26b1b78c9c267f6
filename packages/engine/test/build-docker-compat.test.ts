import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { ProgressMessage } from '../src/index.js';
import { busyboxEngine, runImage, type TestEngine } from './helpers.js';

// What Docker's classic builder does that clients (docker-py's tests among them) rely on,
// each checked against dockerd 20.10 first.

const t = busyboxEngine();

/** A context tar's bytes (ustar, with the end-of-archive blocks). */
async function tarBytes(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(1_700_000_000_000) }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function build(files: Record<string, string> | Buffer, opts: Parameters<TestEngine['engine']['builder']['build']>[1] = {}): Promise<{ id: string; msgs: ProgressMessage[] }> {
  const msgs: ProgressMessage[] = [];
  const bytes = Buffer.isBuffer(files) ? files : await tarBytes(files);
  const res = await t.engine.builder.build(Readable.from([bytes]), { networkMode: 'none', ...opts, onProgress: (m) => msgs.push(m) });
  return { id: res.id, msgs };
}

const usingCache = (msgs: ProgressMessage[]): number => msgs.filter((m) => m.stream?.includes('Using cache')).length;

describe('classic builder: the context as Docker treats it', () => {
  it('drops .dockerignore and the Dockerfile when .dockerignore names them; other patterns are the client\'s business', async () => {
    const { id } = await build({
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\n',
      '.dockerignore': 'Dockerfile\n.dockerignore\nsecret\n',
      secret: 'sent anyway\n',
      'keep.txt': 'keep\n',
    });
    expect(await runImage(t.engine, id, ['sh', '-c', 'find /ctx | sort'])).toBe('/ctx\n/ctx/keep.txt\n/ctx/secret\n');
  });

  it('honours ! exceptions, and keeps both files without a .dockerignore', async () => {
    const excepted = await build({ Dockerfile: 'FROM busybox\nCOPY . /ctx/\n', '.dockerignore': '*\n!Dockerfile\n', 'keep.txt': 'k\n' });
    expect(await runImage(t.engine, excepted.id, ['sh', '-c', 'find /ctx | sort'])).toBe('/ctx\n/ctx/Dockerfile\n/ctx/keep.txt\n');
    const plain = await build({ Dockerfile: 'FROM busybox\nCOPY . /ctx/\n', 'keep.txt': 'k\n' });
    expect(await runImage(t.engine, plain.id, ['sh', '-c', 'find /ctx | sort'])).toBe('/ctx\n/ctx/Dockerfile\n/ctx/keep.txt\n');
  });

  it('drops a Dockerfile sent from outside the context under the name the client lists in .dockerignore', async () => {
    const name = '.dockerfile.0123456789abcdef';
    const { id } = await build(
      { 'file.txt': 'hello\n', '.dockerignore': `.dockerignore\n${name}`, [name]: 'FROM busybox\nCOPY . /src\nWORKDIR /src\n' },
      { dockerfile: name },
    );
    expect(await runImage(t.engine, id, ['ls', '-a'])).toBe('.\n..\nfile.txt\n');
  });

  it('accepts a context tar that stops right after the last entry\'s data, as the docker CLI sends -f -; refuses one cut in the data', async () => {
    const dockerfile = 'FROM busybox\nCOPY file.txt /f\n';
    const whole = await tarBytes({ 'file.txt': 'hello\n', Dockerfile: dockerfile });
    // the last entry is the Dockerfile: cut its padding and the two end blocks
    const cut = whole.subarray(0, whole.length - 1024 - (512 - dockerfile.length));
    expect(cut.subarray(-dockerfile.length).toString()).toBe(dockerfile);
    const { id } = await build(cut);
    expect(await runImage(t.engine, id, ['cat', '/f'])).toBe('hello\n');
    await expect(build(cut.subarray(0, cut.length - 5))).rejects.toThrow(/Unexpected end of data/);
    // compressed (docker build --compress), the last entry behind a PAX header (a long name)
    const long = `${'d'.repeat(120)}.txt`;
    const withPax = await tarBytes({ Dockerfile: `FROM busybox\nCOPY ${long} /long\n`, [long]: 'long name\n' });
    const paxCut = withPax.subarray(0, withPax.length - 1024 - (512 - 'long name\n'.length));
    const zipped = await build(gzipSync(paxCut));
    expect(await runImage(t.engine, zipped.id, ['cat', '/long'])).toBe('long name\n');
  });
});

describe('classic builder: the JSON stream as Docker writes it', () => {
  it('wraps what a RUN writes to stderr in ESC[91m..ESC[0m and sends a Step line and its newline apart', async () => {
    const { msgs } = await build({ Dockerfile: 'FROM busybox\nRUN sh -c ">&2 echo to-stderr"\nRUN echo to-stdout\n' }, { noCache: true });
    const streams = msgs.map((m) => m.stream);
    expect(streams).toContain('\x1b[91mto-stderr\n\x1b[0m');
    expect(streams).toContain('to-stdout\n');
    expect(streams.slice(0, 3)).toEqual(['Step 1/3 : FROM busybox', '\n', expect.stringMatching(/^ ---> [0-9a-f]{12}\n$/)]);
  });

  it('adds the labels asked for as one LABEL step each, shown unquoted, and splits the trigger line', async () => {
    await build({ Dockerfile: 'FROM busybox\nONBUILD ENV TRIGGERED=1\n' }, { tags: ['compat:onbuild'] });
    const { id, msgs } = await build({ Dockerfile: 'FROM compat:onbuild\n' }, { labels: { z: '1', 'a b': 'c d' } });
    const streams = msgs.map((m) => m.stream);
    expect(streams.filter((x) => x?.startsWith('Step '))).toEqual(['Step 1/3 : FROM compat:onbuild', 'Step 2/3 : LABEL a b=c d', 'Step 3/3 : LABEL z=1']);
    expect(streams).toContain('# Executing 1 build trigger');
    const img = await t.engine.images.inspect(id);
    expect(img.Config.Labels).toEqual({ 'a b': 'c d', z: '1' });
    expect((await t.engine.images.history(id)).slice(0, 2).map((h) => h.CreatedBy)).toEqual(['/bin/sh -c #(nop)  LABEL z=1', '/bin/sh -c #(nop)  LABEL a b=c d']);
  });

  it('answers a quiet build with the ID line alone', async () => {
    const { id, msgs } = await build({ Dockerfile: 'FROM busybox\nENV Q=1\n' }, { quiet: true });
    expect(msgs).toEqual([{ stream: `${id}\n` }]);
  });
});

describe('classic builder: extraHosts and cacheFrom', () => {
  it('adds extraHosts to the RUN containers\' /etc/hosts', async () => {
    const { id } = await build(
      { Dockerfile: 'FROM busybox\nRUN grep extrahost.local.test /etc/hosts > /hosts-line\n' },
      { extraHosts: ['extrahost.local.test:127.0.0.1', 'hello.world.test:127.0.0.2'], noCache: true },
    );
    expect(await runImage(t.engine, id, ['cat', '/hosts-line'])).toBe('127.0.0.1\textrahost.local.test\n');
    // checked as dockerd does when it sets up the RUN container
    const df = { Dockerfile: 'FROM busybox\nRUN true\n' };
    await expect(build(df, { extraHosts: ['bad'], noCache: true })).rejects.toThrow('bad format for add-host: "bad"');
    await expect(build(df, { extraHosts: ['name:not-an-ip'], noCache: true })).rejects.toThrow('invalid IP address in add-host: "not-an-ip"');
  });

  it('with cacheFrom, takes cached steps only from those images\' histories', async () => {
    const df = { Dockerfile: 'FROM busybox\nENV FOO=cache-from\nRUN touch /baz\nRUN touch /bax\n' };
    const first = await build(df, { tags: ['cachefrom:one'] });
    const from = await build(df, { cacheFrom: ['cachefrom:one'] });
    expect(usingCache(from.msgs)).toBe(3);
    expect(from.id).toBe(first.id);
    // a name that is no image leaves no source: nothing from the cache, as Docker does
    const none = await build(df, { cacheFrom: ['cachefrom-nosuchtag'] });
    expect(usingCache(none.msgs)).toBe(0);
    // an image of another history is no source for these steps
    await build({ Dockerfile: 'FROM busybox\nENV FOO=other\n' }, { tags: ['cachefrom:other'] });
    const other = await build(df, { cacheFrom: ['cachefrom:other'] });
    expect(usingCache(other.msgs)).toBe(0);
  });

  it('with cacheFrom, restores steps from the image\'s history when the build cache has none (a pulled or loaded image)', async () => {
    const df = { Dockerfile: 'FROM busybox\nENV FOO=restore\nRUN echo restored > /r\nCMD ["cat", "/r"]\n' };
    const first = await build(df, { tags: ['cachefrom:restore'] });
    await t.engine.builder.pruneCache();
    const again = await build(df, { cacheFrom: ['cachefrom:restore'] });
    expect(usingCache(again.msgs)).toBe(3);
    expect(again.msgs.some((m) => m.stream?.includes('Running in'))).toBe(false);
    expect(again.id).toBe(first.id);
  });
});
