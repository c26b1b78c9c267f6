import { afterEach, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBerthd } from '../src/client.js';

// The CLI starts the berthd bundle next to it; executing the file itself (not `node file`)
// is what applies the memory flags on its shebang line.
describe('findBerthd', () => {
  const saved = process.argv[1];
  let dir: string | undefined;
  afterEach(async () => {
    process.argv[1] = saved!;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function layout(mode: number): Promise<{ cli: string; daemon: string }> {
    dir = await mkdtemp(join(tmpdir(), 'berth-find-berthd-'));
    await mkdir(join(dir, 'apps/cli/dist'), { recursive: true });
    await mkdir(join(dir, 'apps/daemon/dist'), { recursive: true });
    const cli = join(dir, 'apps/cli/dist/berth.js');
    const daemon = join(dir, 'apps/daemon/dist/berthd.js');
    await writeFile(cli, '');
    await writeFile(daemon, '#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=1\n');
    await chmod(daemon, mode);
    return { cli, daemon };
  }

  it('runs the executable bundle next to the CLI directly, so its shebang flags apply', async () => {
    const { cli, daemon } = await layout(0o755);
    process.argv[1] = cli;
    expect(findBerthd()).toEqual([daemon]);
  });

  it('falls back to node when the bundle lost its execute bit', async () => {
    const { cli, daemon } = await layout(0o644);
    process.argv[1] = cli;
    expect(findBerthd()).toEqual([process.execPath, daemon]);
  });

  it('finds the bundle through a symlinked CLI (the quick start links berth into /usr/local/bin)', async () => {
    const { cli, daemon } = await layout(0o755);
    const link = join(dir!, 'berth');
    await symlink(cli, link);
    process.argv[1] = link;
    expect(findBerthd()).toEqual([daemon]);
  });

  it('finds the @berth/daemon an installed @berth/cli depends on (npm i -g nests it)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-find-berthd-'));
    const pkg = join(dir, 'lib/node_modules/@berth/cli');
    await mkdir(join(pkg, 'dist'), { recursive: true });
    await mkdir(join(pkg, 'node_modules/@berth/daemon/dist'), { recursive: true });
    const cli = join(pkg, 'dist/berth.js');
    const daemon = join(pkg, 'node_modules/@berth/daemon/dist/berthd.js');
    await writeFile(cli, '');
    await writeFile(daemon, '#!/usr/bin/env node\n');
    await chmod(daemon, 0o755);
    process.argv[1] = cli;
    expect(findBerthd()).toEqual([daemon]);
  });
});
