import { describe, expect, it } from 'vitest';
import { DEFAULT_PIPE_PATH, defaultHost, hostFromEnv, isNamedPipePath, parseHost } from './host.js';

describe('parseHost', () => {
  it('parses unix, tcp and bare paths', () => {
    expect(parseHost('unix:///run/berth/berthd.sock')).toEqual({ socketPath: '/run/berth/berthd.sock' });
    expect(parseHost('/tmp/x.sock')).toEqual({ socketPath: '/tmp/x.sock' });
    expect(parseHost('tcp://127.0.0.1:2375')).toEqual({ hostname: '127.0.0.1', port: 2375 });
    expect(parseHost('tcp://localhost')).toEqual({ hostname: 'localhost', port: 2375 });
    expect(parseHost('http://[::1]:8080')).toEqual({ hostname: '::1', port: 8080 });
  });
  it('rejects what it cannot reach', () => {
    expect(() => parseHost('ssh://user@host')).toThrow(/unsupported/);
    expect(() => parseHost('npipe:////server/pipe/docker_engine')).toThrow(/named pipe/);
    expect(() => parseHost('npipe:////./pipe/')).toThrow(/named pipe/);
    expect(() => parseHost('unix://relative')).toThrow(/absolute/);
    expect(() => parseHost('tcp://h:99999')).toThrow(/port/);
    expect(() => parseHost('garbage')).toThrow(/invalid host/);
  });
  it('prefers BERTH_HOST over DOCKER_HOST', () => {
    expect(hostFromEnv({ BERTH_HOST: 'unix:///a', DOCKER_HOST: 'unix:///b' })).toBe('unix:///a');
    expect(hostFromEnv({ DOCKER_HOST: 'unix:///b' })).toBe('unix:///b');
    expect(hostFromEnv({})).toBe('unix:///run/berth/berthd.sock');
  });
  it('parses Docker-style named pipes into the path Node listens and connects on', () => {
    expect(parseHost('npipe:////./pipe/docker_engine')).toEqual({ socketPath: '\\\\.\\pipe\\docker_engine' });
    expect(parseHost('npipe:////./pipe/berth_engine')).toEqual({ socketPath: DEFAULT_PIPE_PATH });
    expect(parseHost('npipe://\\\\.\\pipe\\berth_engine')).toEqual({ socketPath: DEFAULT_PIPE_PATH });
    expect(DEFAULT_PIPE_PATH).toBe(String.raw`\\.\pipe\berth_engine`);
    expect(isNamedPipePath(DEFAULT_PIPE_PATH)).toBe(true);
    expect(isNamedPipePath('/run/berth/berthd.sock')).toBe(false);
  });
  it('defaults to the named pipe on Windows and the unix socket elsewhere', () => {
    expect(defaultHost('win32')).toBe('npipe:////./pipe/berth_engine');
    expect(defaultHost('linux')).toBe('unix:///run/berth/berthd.sock');
    expect(defaultHost('darwin')).toBe('unix:///run/berth/berthd.sock');
    expect(hostFromEnv({}, 'win32')).toBe('npipe:////./pipe/berth_engine');
    expect(hostFromEnv({ DOCKER_HOST: 'tcp://127.0.0.1:2375' }, 'win32')).toBe('tcp://127.0.0.1:2375');
    expect(hostFromEnv({}, 'linux')).toBe('unix:///run/berth/berthd.sock');
  });
});
