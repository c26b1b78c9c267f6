import { describe, expect, it } from 'vitest';
import { defaultIsolation, isWindowsClient, resolveIsolation, type IsolationHost } from './isolation.js';

const isolationForCreate = (value: string | undefined, host: IsolationHost): string => resolveIsolation(value, host, defaultIsolation(host));

const linux: IsolationHost = { platform: 'linux', productName: '#1 SMP Debian 6.1.0' };
const server2022: IsolationHost = { platform: 'win32', productName: 'Windows Server 2022 Datacenter' };
const server2025: IsolationHost = { platform: 'win32', productName: 'Windows Server 2025 Standard' };
const win11: IsolationHost = { platform: 'win32', productName: 'Windows 11 Pro' };
const win10: IsolationHost = { platform: 'win32', productName: 'Windows 10 Enterprise' };

describe('the daemon default isolation (docker info Isolation)', () => {
  it('is none on Linux, process on Windows Server, hyperv on client SKUs', () => {
    expect(defaultIsolation(linux)).toBe('');
    expect(defaultIsolation(server2022)).toBe('process');
    expect(defaultIsolation(server2025)).toBe('process');
    expect(defaultIsolation(win11)).toBe('hyperv');
    expect(defaultIsolation(win10)).toBe('hyperv');
    expect([server2022, win11, linux].map(isWindowsClient)).toEqual([false, true, false]);
  });

  it('follows --exec-opt isolation=X on Windows (the last one), case-insensitively', () => {
    expect(defaultIsolation(server2022, ['isolation=hyperv'])).toBe('hyperv');
    expect(defaultIsolation(win11, ['isolation=Process'])).toBe('process');
    expect(defaultIsolation(win11, ['isolation=process', 'isolation=hyperv'])).toBe('hyperv');
    expect(defaultIsolation(server2022, ['isolation=default'])).toBe('process');
    expect(defaultIsolation(server2022, ['native.cgroupdriver=cgroupfs'])).toBe('process');
    expect(() => defaultIsolation(server2022, ['isolation=vm'])).toThrow("Invalid exec-opt value for 'isolation':'vm'");
  });
});

describe('HostConfig.Isolation at create', () => {
  it('on Linux takes only default (any case) or nothing, stored as given, refusing the rest with Docker 20.10’s text and status', () => {
    expect(resolveIsolation(undefined, linux, '')).toBe('');
    expect(resolveIsolation('', linux, '')).toBe('');
    expect(resolveIsolation('Default', linux, '')).toBe('Default');
    expect(resolveIsolation('DEFAULT', linux, '')).toBe('DEFAULT');
    for (const v of ['process', 'hyperv', 'bogus']) {
      expect(() => resolveIsolation(v, linux, '')).toThrow(`Invalid isolation: "${v}" - linux only supports 'default'`);
    }
    // dockerd 20.10 answers this decoder error with 500
    expect(() => resolveIsolation('process', linux, '')).toThrow(expect.objectContaining({ code: 'Internal' }));
  });

  it('on Windows replaces empty or default by the daemon default and keeps process or hyperv', () => {
    expect(isolationForCreate(undefined, server2022)).toBe('process');
    expect(isolationForCreate('default', server2022)).toBe('process');
    expect(isolationForCreate('', win11)).toBe('hyperv');
    expect(isolationForCreate('hyperv', server2022)).toBe('hyperv');
    expect(isolationForCreate('process', win11)).toBe('process');
    expect(isolationForCreate('HyperV', server2022)).toBe('HyperV');
    expect(() => isolationForCreate('vm', server2022)).toThrow(`Invalid isolation: "vm". Windows supports 'default', 'process', or 'hyperv'`);
  });
});
