import { describe, expect, it } from 'vitest';
import { mergeConfig, mergeEnv, mountRequests, normaliseSignal, processArgs, publishedPorts, checkRestartPolicy } from './container-config.js';
import { humanDuration } from '@berth/engine-api';
import { statusText } from './status-text.js';
import { EventBus } from './events.js';
import { InvalidArgumentError } from '@berth/image-format';

const image = { config: { Env: ['PATH=/bin', 'A=1'], Entrypoint: ['/ep'], Cmd: ['x'], WorkingDir: '/w', Labels: { a: '1' }, Volumes: { '/data': {} }, ExposedPorts: { '80/tcp': {} } } };

describe('mergeConfig', () => {
  it('keeps image entrypoint and cmd when the body gives none', () => {
    const c = mergeConfig(image, { Image: 'i' }, 'abc');
    expect(processArgs(c)).toEqual({ path: '/ep', args: ['x'] });
    expect(c.WorkingDir).toBe('/w');
    expect(c.Hostname).toBe('abc');
  });
  it('a body Entrypoint resets the image Cmd', () => {
    const c = mergeConfig(image, { Image: 'i', Entrypoint: ['/bin/sh'] }, 'h');
    expect(processArgs(c)).toEqual({ path: '/bin/sh', args: [] });
  });
  it('a body Cmd replaces the image Cmd; strings are one-element lists', () => {
    const c = mergeConfig({ config: { Cmd: ['sh'] } }, { Image: 'i', Cmd: 'echo' }, 'h');
    expect(processArgs(c)).toEqual({ path: 'echo', args: [] });
  });
  it('overlays env by name and adds PATH when missing', () => {
    expect(mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4'])).toEqual(['A=1', 'B=3', 'C=4']);
    const c = mergeConfig({}, { Image: 'i', Env: ['X=1'], Cmd: ['t'] }, 'h');
    expect(c.Env?.[0]).toMatch(/^PATH=/);
    expect(c.Env).toContain('X=1');
  });
  it('unions labels and exposed ports (port bindings expose too)', () => {
    const c = mergeConfig(image, { Image: 'i', Labels: { b: '2' }, HostConfig: { PortBindings: { '81': [{ HostPort: '1' }] } } }, 'h');
    expect(c.Labels).toEqual({ a: '1', b: '2' });
    expect(Object.keys(c.ExposedPorts ?? {}).sort()).toEqual(['80/tcp', '81/tcp']);
  });
  it('refuses a container with nothing to run', () => {
    expect(() => processArgs(mergeConfig({}, { Image: 'i' }, 'h'))).toThrow(/no command specified/);
  });
});

describe('ports, mounts, policies', () => {
  it('expands port bindings', () => {
    expect(publishedPorts({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '53/udp': [{ HostPort: '' }] })).toEqual([
      { containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080 },
      { containerPort: 53, protocol: 'udp', hostIp: '', hostPort: 0 },
    ]);
    expect(() => publishedPorts({ 'x/tcp': [] })).toThrow(/invalid port/);
  });
  it('turns binds, mounts, tmpfs and image volumes into requests', () => {
    const m = mountRequests({ Volumes: { '/data': {}, '/other': {} } }, {
      Binds: ['/host:/c:ro', 'named:/data'],
      Mounts: [{ Type: 'tmpfs', Target: '/t' }],
      Tmpfs: { '/run': 'size=1m' },
    });
    expect(m).toEqual([
      { type: 'volume', name: 'named', target: '/data', readOnly: false, noCopy: false, anonymous: false },
      { type: 'volume', name: undefined, target: '/other', readOnly: false, noCopy: false, anonymous: true },
      { type: 'bind', source: '/host', target: '/c', readOnly: true, propagation: 'rprivate', createSource: true },
      { type: 'tmpfs', target: '/t', options: [] },
      { type: 'tmpfs', target: '/run', options: ['size=1m'] },
    ]);
    expect(() => mountRequests({}, { Binds: ['/a:/x', '/b:/x'] })).toThrow(/Duplicate mount point/);
  });

  it('refuses a mount without a Target with a 400-class error, not a TypeError', () => {
    const noTarget = () => mountRequests({}, { Mounts: [{ Type: 'volume', Source: 'v' }] });
    expect(noTarget).toThrow(InvalidArgumentError);
    expect(noTarget).toThrow('invalid mount config for type "volume": field Target must not be empty');
  });
  it('checks restart policies with Docker messages', () => {
    expect(() => checkRestartPolicy({ RestartPolicy: { Name: 'sometimes' as 'always' } })).toThrow(/unknown policy/);
    expect(() => checkRestartPolicy({ RestartPolicy: { Name: 'always' }, AutoRemove: true })).toThrow(/--restart and --rm/);
    expect(() => checkRestartPolicy({ RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } })).not.toThrow();
  });
  it('normalises signals', () => {
    expect(normaliseSignal('kill')).toBe('SIGKILL');
    expect(normaliseSignal('9')).toBe('9');
    expect(normaliseSignal(undefined)).toBe('SIGTERM');
  });
});

describe('status text and events', () => {
  it('formats Docker status strings', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    expect(statusText({ status: 'running', exitCode: 0, startedAt: '2026-01-01T00:00:57Z' }, now)).toBe('Up 3 seconds');
    expect(statusText({ status: 'exited', exitCode: 1, finishedAt: '2026-01-01T00:00:58Z' }, now)).toBe('Exited (1) 2 seconds ago');
    expect(statusText({ status: 'created', exitCode: 0 }, now)).toBe('Created');
    expect(humanDuration(90 * 60_000)).toBe('2 hours');
  });
  it('delivers filtered live and past events', async () => {
    const bus = new EventBus();
    const t0 = Math.floor(Date.now() / 1000) - 1;
    bus.emit('container', 'create', 'c1', { name: 'a', image: 'busybox' });
    bus.emit('volume', 'create', 'v1');
    const sub = bus.subscribe({ since: t0, filters: { type: ['container'] } });
    const got: string[] = [];
    const done = (async () => {
      for await (const e of sub) {
        got.push(`${e.Action}:${e.Actor.ID}`);
        if (got.length === 2) sub.close();
      }
    })();
    bus.emit('network', 'create', 'n1');
    bus.emit('container', 'start', 'c1', { name: 'a' });
    await done;
    expect(got).toEqual(['create:c1', 'start:c1']);
    expect(bus.listeners).toBe(0);
  });
});
