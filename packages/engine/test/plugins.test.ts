import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import tar from 'tar-stream';
import { EventBus } from '../src/events.js';
import { PluginStore } from '../src/plugins/store.js';

async function pluginTar(config: object): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name: 'config.json' }, JSON.stringify(config));
  pack.entry({ name: 'rootfs/', type: 'directory' });
  pack.entry({ name: 'rootfs/bin/run', mode: 0o755 }, '#!/bin/sh\n');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('plugin store', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('keeps plugins across a reopen (disabled), settings included, and clears unfinished creates', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-plugins-'));
    dirs.push(root);
    const events = new EventBus();
    const seen: string[] = [];
    const emit = events.emit.bind(events);
    events.emit = (type, action, id, attrs) => {
      seen.push(`${type} ${action}`);
      return emit(type, action, id, attrs);
    };
    const store = await PluginStore.open(root, events, '0.0.0');
    // Go decodes config.json case-insensitively: mixed case is the same field.
    await store.create('berthtest/kept', Readable.from([await pluginTar({ Entrypoint: ['/bin/run'], ENV: [{ Name: 'A', settable: ['value'], value: 'x' }], Mounts: [{ name: 'data', source: '/srv', destination: '/data', type: 'bind', settable: ['source'] }] })]));
    await store.set('berthtest/kept', ['A=y', 'data.source=/mnt']);
    await mkdir(join(root, 'plugins', 'tmp-halfway', 'rootfs'), { recursive: true });

    const reopened = await PluginStore.open(root, new EventBus(), '0.0.0');
    const p = reopened.inspect('berthtest/kept:latest');
    expect(p.Enabled).toBe(false);
    expect(p.Config.Entrypoint).toEqual(['/bin/run']);
    expect(p.Settings.Env).toEqual(['A=y']);
    expect(p.Settings.Mounts[0]?.Source).toBe('/mnt');
    expect(reopened.privileges('berthtest/kept')).toEqual([{ Name: 'mount', Description: 'host path to mount', Value: ['/srv'] }]);
    expect((await readdir(join(root, 'plugins'))).filter((d) => d.startsWith('tmp-'))).toEqual([]);
    expect(seen).toContain('plugin create');

    // A setting not declared settable is refused, as Docker does.
    await expect(reopened.set('berthtest/kept', ['data.destination=/x'])).rejects.toThrow('"data.destination" is not a valid setting');
    await reopened.remove('berthtest/kept');
    expect(reopened.list()).toEqual([]);
    expect(await readdir(join(root, 'plugins'))).toEqual([]);
  });
});
