import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxDriver } from '../src/index.js';
import { makeSandbox } from './helpers.js';
import { runOnce } from './run-helper.js';


const sh = (script: string) => ({ args: ['sh', '-c', script] });


/** The isolation checks against one runtime (`crun` or `runc`). */
export function isolationSuite(runtime: string): void {
  let sandbox: Awaited<ReturnType<typeof makeSandbox>>;
  let driver: LinuxDriver;

  beforeAll(async () => {
    sandbox = await makeSandbox(`iso-${runtime}`);
    driver = new LinuxDriver({ stateDir: sandbox.stateDir, runtime });
  });
  afterAll(async () => {
    await driver?.close();
    await sandbox?.cleanup();
  });

  describe(`isolation seen from inside the container (${runtime})`, () => {
    it('pid 1 is the process and host processes are invisible', async () => {
      const r = await runOnce(driver, await sandbox.rootfs(), sh('cat /proc/1/cmdline | tr "\\0" " "; echo; ls /proc | grep -c "^[0-9]"'));
      const [cmd, count] = r.stdout.trim().split('\n');
      expect(cmd?.trim()).toBe(`sh -c cat /proc/1/cmdline | tr "\\0" " "; echo; ls /proc | grep -c "^[0-9]"`);
      expect(Number(count)).toBeLessThan(6);
    });

    it('sets the hostname and writes /etc/hosts and resolv.conf', async () => {
      const r = await runOnce(driver, await sandbox.rootfs(), sh('hostname; cat /etc/hostname; grep -c localhost /etc/hosts; grep -c 10.9.9.9 /etc/hosts; cat /etc/resolv.conf'), {
        hostname: 'boxy',
        network: { mode: 'none', extraHosts: ['db:10.9.9.9'], dns: { servers: ['192.0.2.53'], search: ['example.test'] } },
      });
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe('boxy');
      expect(lines[1]).toBe('boxy');
      expect(Number(lines[2])).toBeGreaterThan(0);
      expect(lines[3]).toBe('1');
      expect(r.stdout).toContain('nameserver 192.0.2.53');
      expect(r.stdout).toContain('search example.test');
    });

    it('has no network but loopback in mode none', async () => {
      const r = await runOnce(driver, await sandbox.rootfs(), sh('ls /sys/class/net | tr "\\n" " "'));
      expect(r.stdout.trim()).toBe('lo');
    });

    it('denies mount and ip link add without capabilities, allows them with cap-add', async () => {
      const script = 'mkdir -p /mnt/t; mount -t tmpfs none /mnt/t && echo mount-ok || echo mount-denied; ip link add v0 type veth peer name v1 && echo link-ok || echo link-denied';
      const denied = await runOnce(driver, await sandbox.rootfs(), sh(script));
      expect(denied.stdout).toContain('mount-denied');
      expect(denied.stdout).toContain('link-denied');
      const allowed = await runOnce(driver, await sandbox.rootfs(), sh(script), { security: { capAdd: ['SYS_ADMIN', 'NET_ADMIN'] } });
      expect(allowed.stdout).toContain('mount-ok');
      expect(allowed.stdout).toContain('link-ok');
    });

    it('capDrop ALL removes even the defaults (chown fails)', async () => {
      const r = await runOnce(driver, await sandbox.rootfs(), sh('touch /tmp/f; chown 5 /tmp/f && echo chown-ok || echo chown-denied; grep CapEff /proc/self/status'), {
        security: { capDrop: ['ALL'] },
      });
      expect(r.stdout).toContain('chown-denied');
      expect(r.stdout).toMatch(/CapEff:\s+0+\n/);
    });

    it('seccomp blocks unshare of a user namespace; unconfined allows it', async () => {
      const script = 'unshare -U true && echo unshare-ok || echo unshare-denied';
      const blocked = await runOnce(driver, await sandbox.rootfs(), sh(script));
      expect(blocked.stdout).toContain('unshare-denied');
      expect(blocked.all).toMatch(/Operation not permitted/);
      const open = await runOnce(driver, await sandbox.rootfs(), sh(script), { security: { seccomp: 'unconfined' } });
      expect(open.stdout).toContain('unshare-ok');
    });

    it('a custom seccomp profile (Docker format) is applied', async () => {
      const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };
      const r = await runOnce(driver, await sandbox.rootfs(), sh('mkdir /tmp/x && echo mkdir-ok || echo mkdir-denied'), { security: { seccomp: { profile } } });
      expect(r.stdout).toContain('mkdir-denied');
    });

    it('masks /proc/timer_list and keeps /proc/sys read-only', async () => {
      const r = await runOnce(driver, await sandbox.rootfs(), sh('wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/ns_last_pid && echo sys-rw || echo sys-ro; touch /sys/x 2>/dev/null && echo sysfs-rw || echo sysfs-ro'));
      expect(r.stdout.trim().split('\n')[0]).toBe('0');
      expect(r.stdout).toContain('sys-ro');
      expect(r.stdout).toContain('sysfs-ro');
    });

    it('a read-only rootfs refuses writes; tmpfs mounts stay writable', async () => {
      const r = await runOnce(driver, await sandbox.rootfs(), sh('touch /newfile && echo root-rw || echo root-ro; touch /scratch/f && echo tmpfs-rw'), {
        security: { readonlyRootfs: true },
        mounts: [{ type: 'tmpfs', destination: '/scratch', options: ['size=1m'] }],
      });
      expect(r.stdout).toContain('root-ro');
      expect(r.stdout).toContain('tmpfs-rw');
    });

    it('no-new-privileges is set when asked', async () => {
      const r = await runOnce(driver, await sandbox.rootfs(), sh('grep NoNewPrivs /proc/self/status'), { security: { noNewPrivileges: true } });
      expect(r.stdout).toMatch(/NoNewPrivs:\s+1/);
    });

    it('privileged gets all capabilities and can mount', async () => {
      const r = await runOnce(driver, await sandbox.rootfs(), sh('mkdir -p /mnt/t; mount -t tmpfs none /mnt/t && echo mount-ok; grep CapEff /proc/self/status'), { security: { privileged: true } });
      expect(r.stdout).toContain('mount-ok');
      // all the capabilities the host itself has (root here lacks some, e.g. CAP_SYS_RESOURCE)
      const hostBounding = /CapBnd:\s+([0-9a-f]+)/.exec(await readFile('/proc/self/status', 'utf8'))?.[1];
      expect(r.stdout).toContain(`CapEff:\t${hostBounding}`);
    });

    it('bind mounts, volumes and devices', async () => {
      const host = join(sandbox.base, 'bind-src');
      const vol = join(sandbox.base, 'vol-src');
      await mkdir(host, { recursive: true });
      await mkdir(vol, { recursive: true });
      await writeFile(join(host, 'in.txt'), 'from-host\n');
      const r = await runOnce(driver, await sandbox.rootfs(), sh('cat /data/in.txt; echo from-container > /vol/out.txt; touch /data/nope 2>/dev/null || echo bind-ro; ls -l /dev/mynull | cut -c1'), {
        mounts: [
          { type: 'bind', source: host, destination: '/data', readonly: true },
          { type: 'volume', source: vol, destination: '/vol' },
        ],
        devices: [{ pathOnHost: '/dev/null', pathInContainer: '/dev/mynull' }],
      });
      expect(r.stdout).toContain('from-host');
      expect(r.stdout).toContain('bind-ro');
      expect(r.stdout.trim().split('\n').pop()).toBe('c');
      expect(await readFile(join(vol, 'out.txt'), 'utf8')).toBe('from-container\n');
    });

    it('runs in a user namespace with the given maps', async () => {
      const r = await runOnce(driver, await sandbox.rootfs(), sh('id -u; cat /proc/self/uid_map'), {
        security: {
          userns: {
            uidMappings: [{ containerId: 0, hostId: 200000, size: 65536 }],
            gidMappings: [{ containerId: 0, hostId: 200000, size: 65536 }],
          },
        },
      });
      expect(r.exitCode).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe('0');
      expect(lines[1]?.trim().split(/\s+/)).toEqual(['0', '200000', '65536']);
    });
  });
}
