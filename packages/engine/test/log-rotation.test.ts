import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { busyboxEngine, collect, text } from './helpers.js';

const t = busyboxEngine({ 'log-opts': { 'max-size': '4k', 'max-file': '2' } });

describe('log size limits', () => {
  it('rotates a running container\'s log, keeps at most max-file files and loses no line', async () => {
    const { engine } = t;
    const { Id } = await engine.containers.create({
      Image: 'busybox',
      Cmd: ['sh', '-c', 'i=0; while [ $i -lt 400 ]; do echo "line $i padding padding padding"; i=$((i+1)); [ $((i % 40)) = 0 ] && sleep 0.5; done; sleep 30'],
      HostConfig: { NetworkMode: 'none' },
    });
    await engine.containers.start(Id);
    await new Promise((r) => setTimeout(r, 7000));
    const dir = join(t.root, 'containers', Id);
    const live = (await stat(join(dir, 'ctr.log'))).size;
    const rotated = (await stat(join(dir, 'ctr.log.1'))).size;
    // max-file 2: the live log and one rotated file, never more
    expect((await readdir(dir)).filter((f) => f.startsWith('ctr.log')).sort()).toEqual(['ctr.log', 'ctr.log.1']);
    // 400 lines of ~90 bytes were written; the limits keep ~8 KiB (plus what arrived between two checks).
    expect(live + rotated).toBeLessThan(400 * 90 / 2);
    expect((await readFile(join(dir, 'ctr.log'))).includes(0)).toBe(false);
    const lines = text(await collect(await engine.containers.logs(Id, {}))).split('\n').filter(Boolean);
    expect(lines.at(-1)).toBe('line 399 padding padding padding');
    expect(lines.every((l) => /^line \d+ padding padding padding$/.test(l))).toBe(true);
    // a rotation loses nothing: what is kept is one unbroken run of lines
    const numbers = lines.map((l) => Number(l.split(' ')[1]));
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
    expect(numbers[0]).toBeGreaterThan(0);
    // and --tail reads across the rotated file
    const tail = text(await collect(await engine.containers.logs(Id, { tail: lines.length - 1 }))).split('\n').filter(Boolean);
    expect(tail).toEqual(lines.slice(1));
    await engine.containers.remove(Id, { force: true });
  });
});
