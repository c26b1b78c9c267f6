import { describe, expect, it } from 'vitest';
import { parseHost } from '@berth/engine-api';
import { defaultListenHost } from './default-host.js';

describe('berthd default listen address', () => {
  it('is the berth_engine named pipe on Windows, whatever the run root', () => {
    expect(defaultListenHost({ platform: 'win32' })).toBe('npipe:////./pipe/berth_engine');
    expect(defaultListenHost({ platform: 'win32', runRoot: 'C:\\ProgramData\\berth\\run' })).toBe('npipe:////./pipe/berth_engine');
    // what listen() hands to net.Server#listen there
    expect(parseHost(defaultListenHost({ platform: 'win32' }))).toEqual({ socketPath: String.raw`\\.\pipe\berth_engine` });
  });

  it('is the unix socket elsewhere: /run/berth/berthd.sock, or under a run root given explicitly', () => {
    expect(defaultListenHost({ platform: 'linux' })).toBe('unix:///run/berth/berthd.sock');
    expect(defaultListenHost({ platform: 'linux', runRoot: '/tmp/b/run' })).toBe('unix:///tmp/b/run/berthd.sock');
    expect(defaultListenHost({ platform: 'darwin' })).toBe('unix:///run/berth/berthd.sock');
    expect(defaultListenHost()).toBe(process.platform === 'win32' ? 'npipe:////./pipe/berth_engine' : 'unix:///run/berth/berthd.sock');
  });
});
