import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTar, hostileCorpus, outsideState } from '@berth/layer-store/testsuite';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import type { CliResult } from './support/docker-cli.js';

// The hostile-archive corpus (layer-store's testsuite) through berthd's entry points, by
// the real docker CLI: docker cp into a running container (PUT archive), docker cp out
// (GET archive, paths resolved inside the container) and a build context (POST /build,
// classic builder). Each case is refused or contained: a host directory beside
// everything, and /etc/shadow, stay as they were.
describe('hostile archives through berthd', () => {
  let t: TestDaemon;
  let env: NodeJS.ProcessEnv;
  let work: string;
  let outside: string;
  const suffix = Math.random().toString(16).slice(2, 8);
  const ctr = `hostile-${suffix}`;

  const docker = (args: string[], input?: Buffer): Promise<CliResult> =>
    new Promise((resolve) => {
      const child = execFile('docker', args, { env, timeout: 120_000, killSignal: 'SIGKILL', encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout: stdout.toString('latin1'), stderr: stderr.toString() });
      });
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(input);
    });
  const ok = async (args: string[]): Promise<string> => {
    const r = await docker(args);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };

  beforeAll(async () => {
    t = await startTestDaemon({ logLevel: 'fatal' });
    env = { ...t.dockerEnv, DOCKER_BUILDKIT: '0' };
    await t.daemon.engine.images.ensureBuiltin('busybox');
    // Beside the daemon's root, not under it: whatever escapes lands here.
    work = await mkdtemp(join(tmpdir(), 'berth-hostile-'));
    outside = join(work, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'marker'), 'untouched');
    await ok(['run', '-d', '--name', ctr, '--network', 'none', 'busybox', 'sleep', '600']);
  });
  afterAll(async () => {
    if (t) {
      await docker(['rm', '-f', ctr]);
      await t.stop();
    }
    if (work) await rm(work, { recursive: true, force: true });
  }, 240_000);

  /**
   * The corpus by docker cp into `/dst/<case>` of container `c` (the directories exist):
   * each case refused or contained, with dockerd 20.10's verdicts and words.
   */
  async function corpusInto(c: string): Promise<void> {
    const before = await outsideState(outside);
    const outcomes: Record<string, string> = {};
    for (const k of hostileCorpus(outside)) {
      const r = await docker(['cp', '-', `${c}:/dst/${k.id}`], k.tar);
      outcomes[k.id] = r.code === 0 ? 'contained' : `refused: ${r.stderr.trim()}`;
      expect(await outsideState(outside), `${k.id}: ${outcomes[k.id]}`).toBe(before);
    }
    // The verdicts of dockerd 20.10 on the same corpus (docker cp into a container):
    // names and links that leave the destination are refused; the rest lands inside.
    const dockerContained = ['absolute', 'devices', 'file-over-symlink', 'hardlink-to-symlink', 'opaque-via-symlink', 'symlink-deep', 'symlink-mkdir', 'symlink-write', 'whiteout-dotdot', 'whiteout-via-symlink'];
    const contained = Object.keys(outcomes).filter((id) => outcomes[id] === 'contained');
    expect(contained.sort(), JSON.stringify(outcomes, null, 1)).toEqual(dockerContained);
    // ...with dockerd's words.
    const up = (n: number): string => '../'.repeat(n) + outside.slice(1);
    const words: Record<string, string> = {
      dotdot: `"${up(24)}/marker" is outside of "/dst/dotdot"`,
      'dotdot-inner': `"${up(23)}/new" is outside of "/dst/dotdot-inner"`,
      'pax-path': `"${up(24)}/marker" is outside of "/dst/pax-path"`,
      'hardlink-absolute': `link /dst/hardlink-absolute${outside}/marker /dst/hardlink-absolute/l: no such file or directory`,
      'hardlink-dotdot': `invalid hardlink "${outside}/marker" -> "${up(24)}/marker"`,
      'hardlink-shadow': 'link /dst/hardlink-shadow/etc/shadow /dst/hardlink-shadow/shadow: no such file or directory',
      'hardlink-via-symlink': 'link /dst/hardlink-via-symlink/etc/shadow /dst/hardlink-via-symlink/shadow: no such file or directory',
      'symlink-relative-write': `invalid symlink "/dst/symlink-relative-write/rel" -> "${up(24)}"`,
      'symlink-chain': `invalid symlink "/dst/symlink-chain/b" -> "${up(24)}"`,
      'symlink-replaces-dir': 'cannot overwrite directory "/dst/symlink-replaces-dir/d" with non-directory "/dst/symlink-replaces-dir"',
      'symlink-loop': 'open /dst/symlink-loop/a/x: too many levels of symbolic links',
      'symlink-self': 'open /dst/symlink-self/self/x: too many levels of symbolic links',
      'giant-pax': 'archive/tar: header field too long',
      truncated: 'unexpected EOF',
    };
    for (const [id, what] of Object.entries(words)) expect(outcomes[id]).toBe(`refused: Error response from daemon: Error processing tar file(exit status 1): ${what}`);
  }
  /** A tar of the empty directories /dst/<case>, for containers that cannot mkdir (stopped). */
  const dstDirs = (): Buffer => buildTar(hostileCorpus(outside).map((k) => ({ name: `dst/${k.id}/`, type: 'dir' as const })));

  it('docker cp into a running container: every case refused or contained', async () => {
    const r = await docker(['cp', '-', `${ctr}:/`], dstDirs());
    expect(r.code, r.stderr).toBe(0);
    await corpusInto(ctr);
    // An absolute name is taken below the destination; a link to an absolute path is followed inside the container.
    expect(await ok(['exec', ctr, 'cat', `/dst/absolute${outside}/marker`])).toBe('pwned');
    expect(await ok(['exec', ctr, 'cat', `${outside}/marker`])).toBe('pwned');
    expect(await ok(['exec', ctr, 'cat', `${outside}/sub/f`])).toBe('pwned');
    expect(await ok(['exec', ctr, 'cat', '/dst/file-over-symlink/to-marker'])).toBe('replaces the link');
  }, 240_000);

  it('docker cp into a stopped container: the same verdicts', async () => {
    const stopped = `hostile-stopped-${suffix}`;
    await ok(['create', '--name', stopped, '--network', 'none', 'busybox', 'true']);
    try {
      const r = await docker(['cp', '-', `${stopped}:/`], dstDirs());
      expect(r.code, r.stderr).toBe(0);
      await corpusInto(stopped);
    } finally {
      await docker(['rm', '-f', stopped]);
    }
  }, 240_000);

  it('docker cp out of a container: links are resolved inside the container, never on the host', async () => {
    await ok(['exec', ctr, 'sh', '-c', `mkdir -p /leak && ln -sfn ${outside} /leak/abs && ln -sfn ${'../'.repeat(24)}${outside.slice(1)} /leak/rel && ln -sfn /etc /leak/etc && rm -rf ${outside}`]);
    const before = await outsideState(outside);
    for (const path of ['/leak/abs/marker', '/leak/rel/marker', '/leak/abs/', '/leak/rel/.']) {
      const r = await docker(['cp', `${ctr}:${path}`, '-']);
      expect(r.code, `${path}: ${r.stdout.slice(0, 200)}`).not.toBe(0);
      expect(r.stderr).toMatch(/Could not find the file/);
      expect(r.stdout).not.toContain('untouched');
    }
    // /etc through a link is the container's /etc (busybox has no /etc/shadow; the host has).
    const hostShadow = await docker(['cp', `${ctr}:/leak/etc/shadow`, '-']);
    expect(hostShadow.code).not.toBe(0);
    const passwd = await docker(['cp', `${ctr}:/leak/etc/passwd`, '-']);
    expect(passwd.code).toBe(0);
    expect(passwd.stdout).toContain('root:x:0:0:');
    expect(passwd.stdout).not.toMatch(/^_apt:|^systemd|^messagebus/m);
    expect(await outsideState(outside)).toBe(before);
  }, 240_000);

  it('a build context (docker build -, POST /build): every case refused or contained', async () => {
    const before = await outsideState(outside);
    // A complete tar entry for the Dockerfile, before the case's entries.
    const dockerfile = buildTar([{ name: 'Dockerfile', content: 'FROM busybox\nCOPY . /ctx/\nRUN ls -laR /ctx\n' }]);
    const head = dockerfile.subarray(0, dockerfile.length - 1024);
    const outcomes: Record<string, string> = {};
    for (const c of hostileCorpus(outside)) {
      const r = await docker(['build', '--rm', '--force-rm', '-q', '-t', `hostile-${c.id}-${suffix}`, '-'], Buffer.concat([head, c.tar]));
      outcomes[c.id] = r.code === 0 ? 'contained' : `refused: ${r.stderr.trim()}`;
      expect(await outsideState(outside), `${c.id}: ${outcomes[c.id]}`).toBe(before);
    }
    const report = JSON.stringify(outcomes, null, 1);
    // The layer rules: nothing that reaches for outside gets in at all (a `.wh..` file gets in,
    // and COPY's layer, where it would be a whiteout, is refused).
    const contained = Object.keys(outcomes).filter((id) => outcomes[id] === 'contained');
    expect(contained.sort(), report).toEqual(['file-over-symlink', 'hardlink-to-symlink']);
    for (const id of contained) await ok(['rmi', `hostile-${id}-${suffix}`]);
  }, 240_000);

  it('ADD of a hostile archive from the context: every case refused or contained', async () => {
    const before = await outsideState(outside);
    const outcomes: Record<string, string> = {};
    for (const c of hostileCorpus(outside)) {
      const context = buildTar([
        { name: 'Dockerfile', content: 'FROM busybox\nADD hostile.tar /x/\nRUN ls -laR /x\n' },
        { name: 'hostile.tar', content: c.tar },
      ]);
      const tag = `hostile-add-${c.id}-${suffix}`;
      const r = await docker(['build', '--rm', '--force-rm', '-q', '-t', tag, '-'], context);
      outcomes[c.id] = r.code === 0 ? 'contained' : `refused: ${r.stderr.trim()}`;
      expect(await outsideState(outside), `${c.id}: ${outcomes[c.id]}`).toBe(before);
      if (r.code === 0) await ok(['rmi', tag]);
    }
    // Whatever ADD accepted stayed in the image: the escaping names landed below /x.
    expect(Object.values(outcomes).filter((o) => o === 'contained').length, JSON.stringify(outcomes, null, 1)).toBeGreaterThan(0);
  }, 240_000);
});
