import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeMissingPrograms, HOST_PROGRAMS, missingHostPrograms } from '../src/index.js';

// Folders standing in for PATH and the CNI plugin folders: real files, found or not by
// the same access(X_OK) the driver's own lookups use.
describe('missingHostPrograms', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function folders(bin: string[], cni: string[]): Promise<{ binDirs: string[]; cniDirs: string[] }> {
    dir = await mkdtemp(join(tmpdir(), 'berth-host-programs-'));
    const binDir = join(dir, 'bin');
    const cniDir = join(dir, 'cni');
    await mkdir(binDir);
    await mkdir(cniDir);
    for (const [d, names] of [[binDir, bin], [cniDir, cni]] as const) {
      for (const name of names) {
        await writeFile(join(d, name), '#!/bin/sh\n');
        await chmod(join(d, name), 0o755);
      }
    }
    return { binDirs: [binDir], cniDirs: [cniDir] };
  }

  it('names every missing program and its Debian package in one message', async () => {
    const missing = await missingHostPrograms(await folders([], []));
    expect(missing).toEqual(HOST_PROGRAMS);
    expect(describeMissingPrograms(missing)).toBe(
      'missing host programs: crun or runc (an OCI runtime), conmon (the container monitor), bridge (the CNI bridge plugin), ' +
        'host-local (the CNI host-local plugin), portmap (the CNI portmap plugin), iptables, iptables-restore, ip; ' +
        'on Debian or Ubuntu: apt-get install crun conmon containernetworking-plugins iptables iproute2',
    );
  });

  it('is content with runc instead of crun, and finds nothing missing when all are there', async () => {
    const all = await folders(['runc', 'conmon', 'iptables', 'iptables-restore', 'ip'], ['bridge', 'host-local', 'portmap']);
    expect(await missingHostPrograms(all)).toEqual([]);
  });

  it('does not take a file without the execute bit, nor a plugin on PATH for a CNI plugin', async () => {
    const some = await folders(['crun', 'conmon', 'iptables', 'iptables-restore', 'ip', 'bridge', 'host-local', 'portmap'], []);
    await chmod(join(some.binDirs[0]!, 'conmon'), 0o644);
    const missing = await missingHostPrograms(some);
    expect(describeMissingPrograms(missing)).toBe(
      'missing host programs: conmon (the container monitor), bridge (the CNI bridge plugin), host-local (the CNI host-local plugin), ' +
        'portmap (the CNI portmap plugin); on Debian or Ubuntu: apt-get install conmon containernetworking-plugins',
    );
  });

  it('checks the configured runtime instead of crun or runc', async () => {
    const all = await folders(['crun', 'conmon', 'iptables', 'iptables-restore', 'ip'], ['bridge', 'host-local', 'portmap']);
    const missing = await missingHostPrograms({ ...all, runtime: '/opt/nowhere/youki' });
    expect(missing.map((p) => p.anyOf)).toEqual([['/opt/nowhere/youki']]);
  });

  it('finds nothing missing on this machine (CI installs them all)', async () => {
    expect((await missingHostPrograms()).map((p) => p.anyOf.join(' or '))).toEqual([]);
  });
});
