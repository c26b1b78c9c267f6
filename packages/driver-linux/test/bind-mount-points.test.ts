import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxDriver } from '../src/index.js';
import { makeSandbox } from './helpers.js';
import { runOnce, uid } from './run-helper.js';

const sh = (script: string) => ({ args: ['sh', '-c', script] });

// Single-file binds (`-v /host/app.conf:/etc/app.conf`) and kind mismatches, with each runtime.
describe.each(['crun', 'runc'])('bind mount points (%s)', (runtime) => {
  let sandbox: Awaited<ReturnType<typeof makeSandbox>>;
  let driver: LinuxDriver;
  let file: string;
  let dir: string;

  beforeAll(async () => {
    sandbox = await makeSandbox(`bindpt-${runtime}`);
    driver = new LinuxDriver({ stateDir: sandbox.stateDir, runtime });
    file = join(sandbox.base, 'app.conf');
    dir = join(sandbox.base, 'srcdir');
    await writeFile(file, 'from the host\n');
    await mkdir(dir);
  });
  afterAll(async () => {
    await driver?.close();
    await sandbox?.cleanup();
  });

  it('binds a file onto a new path as a file; writes reach the host file', async () => {
    const rootfs = await sandbox.rootfs();
    const r = await runOnce(driver, rootfs, sh('cat /etc/app.conf; echo written >> /etc/app.conf; ls -ld /etc/app.conf | cut -c1'), {
      mounts: [{ type: 'bind', source: file, destination: '/etc/app.conf' }],
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('from the host\n-\n');
    expect(await readFile(file, 'utf8')).toBe('from the host\nwritten\n');
    // the mount point left in the rootfs is an empty file, not a directory
    const point = await lstat(join(rootfs.path as string, 'etc/app.conf'));
    expect(point.isFile()).toBe(true);
    await writeFile(file, 'from the host\n');
  });

  it('binds a file read-only, over an existing file of the image, and below directories the image lacks', async () => {
    const r = await runOnce(driver, await sandbox.rootfs(), sh('cat /etc/passwd /a/b/c/app.conf; echo x > /etc/passwd || echo ro-refused; ls -ld /a/b/c | cut -c1'), {
      mounts: [
        { type: 'bind', source: file, destination: '/etc/passwd', readonly: true },
        { type: 'bind', source: file, destination: '/a/b/c/app.conf' },
      ],
    });
    expect(r.stdout).toBe('from the host\nfrom the host\nro-refused\nd\n');
    expect(r.stderr).toContain('Read-only file system');
    expect(await readFile(file, 'utf8')).toBe('from the host\n');
  });

  it('binds a file below another bind mount (the runtime makes that mount point)', async () => {
    const r = await runOnce(driver, await sandbox.rootfs(), sh('cat /data/app.conf'), {
      mounts: [
        { type: 'bind', source: dir, destination: '/data' },
        { type: 'bind', source: file, destination: '/data/app.conf', readonly: true },
      ],
    });
    expect(r.stdout).toBe('from the host\n');
  });

  it('refuses a file onto a directory, a directory onto a file, and a path below a file, saying which', async () => {
    const cases: [string, string, RegExp][] = [
      [file, '/etc', /cannot mount file ".*app.conf" onto directory "\/etc" of the container/],
      [dir, '/etc/passwd', /cannot mount directory ".*srcdir" onto file "\/etc\/passwd" of the container/],
      [file, '/etc/passwd/x', /\/etc\/passwd is not a directory in the container/],
    ];
    for (const [source, destination, message] of cases) {
      const id = uid('kind');
      const err = await driver
        .create({ id, rootfs: await sandbox.rootfs(), process: sh('true'), network: { mode: 'none' }, mounts: [{ type: 'bind', source, destination }] })
        .then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(err?.message).toMatch(message);
      expect(err?.message).toContain('Are you trying to mount a directory onto a file (or vice-versa)?');
      expect(err?.code).toBe('InvalidArgument');
      // nothing half-made is left behind
      await expect(driver.state(id)).rejects.toThrow();
    }
  });
});
