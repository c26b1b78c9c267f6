import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mayMakeDeviceNodes } from './device-privilege.js';

const HOST_MAP = '         0          0 4294967295\n';
const ALL_CAPS = '000001ffffffffff';

describe('mayMakeDeviceNodes', () => {
  it('is true for this root daemon (host user namespace, CAP_MKNOD)', () => {
    expect(process.geteuid?.()).toBe(0);
    expect(mayMakeDeviceNodes()).toBe(true);
  });

  it('is false for an unprivileged user, root in a user namespace, and root without CAP_MKNOD', () => {
    expect(mayMakeDeviceNodes({ euid: 0, uidMap: HOST_MAP, capEff: ALL_CAPS })).toBe(true);
    expect(mayMakeDeviceNodes({ euid: 1000, uidMap: HOST_MAP, capEff: '0000000000000000' })).toBe(false);
    // what a user namespace (rootless, unshare -r) shows as its map
    const nsMap = execFileSync('unshare', ['--user', '--map-root-user', 'cat', '/proc/self/uid_map'], { encoding: 'utf8' });
    expect(mayMakeDeviceNodes({ euid: 0, uidMap: nsMap, capEff: ALL_CAPS })).toBe(false);
    // capsh --drop=cap_mknod would show this: every capability but bit 27
    const noMknod = (BigInt(`0x${ALL_CAPS}`) & ~(1n << 27n)).toString(16).padStart(16, '0');
    expect(mayMakeDeviceNodes({ euid: 0, uidMap: HOST_MAP, capEff: noMknod })).toBe(false);
    expect(mayMakeDeviceNodes({ euid: 0, uidMap: '', capEff: ALL_CAPS })).toBe(false);
  });

  it('an unprivileged process is told no', () => {
    // a real process running as nobody reads its own /proc/self files
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', 'cat /proc/self/uid_map; grep CapEff /proc/self/status'], { encoding: 'utf8' });
    const capEff = /CapEff:\s*([0-9a-f]+)/.exec(out)?.[1] ?? '';
    expect(mayMakeDeviceNodes({ euid: 65534, uidMap: out.split('\n')[0] ?? '', capEff })).toBe(false);
    expect(capEff).toBe('0000000000000000');
    expect(readFileSync('/proc/self/uid_map', 'utf8')).toMatch(/^\s*0\s+0\s+4294967295\s*$/);
  });
});
