import { describe, expect, it } from 'vitest';
import { hostFromEnv, parseHost } from './host.js';

describe('parseHost', () => {
  it('parses unix, tcp and bare paths', () => {
    expect(parseHost('unix:///run/berth/berthd.sock')).toEqual({ socketPath: '/run/berth/berthd.sock' });
    expect(parseHost('/tmp/x.sock')).toEqual({ socketPath: '/tmp/x.sock' });
    expect(parseHost('tcp://127.0.0.1:2375')).toEqual({ hostname: '127.0.0.1', port: 2375 });
    expect(parseHost('tcp://localhost')).toEqual({ hostname: 'localhost', port: 2375 });
    expect(parseHost('http://[::1]:8080')).toEqual({ hostname: '::1', port: 8080 });
  });
  it('rejects what it cannot reach', () => {
    expect(() => parseHost('npipe:////./pipe/docker_engine')).toThrow(/unsupported/);
    expect(() => parseHost('unix://relative')).toThrow(/absolute/);
    expect(() => parseHost('tcp://h:99999')).toThrow(/port/);
    expect(() => parseHost('garbage')).toThrow(/invalid host/);
  });
  it('prefers BERTH_HOST over DOCKER_HOST', () => {
    expect(hostFromEnv({ BERTH_HOST: 'unix:///a', DOCKER_HOST: 'unix:///b' })).toBe('unix:///a');
    expect(hostFromEnv({ DOCKER_HOST: 'unix:///b' })).toBe('unix:///b');
    expect(hostFromEnv({})).toBe('unix:///run/berth/berthd.sock');
  });
});
