import { describe, expect, it } from 'vitest';
import { parseWWWAuthenticate } from './challenge.js';

describe('parseWWWAuthenticate', () => {
  it('parses a Docker Hub style bearer challenge', () => {
    const [c] = parseWWWAuthenticate(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    );
    expect(c).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    });
  });

  it('parses basic, unquoted values, escapes and several challenges', () => {
    const all = parseWWWAuthenticate('Basic realm="a \\"quoted\\" realm", Bearer realm=https://x/token, service=svc ,error="insufficient_scope"');
    expect(all).toHaveLength(2);
    expect(all[0]).toEqual({ scheme: 'basic', params: { realm: 'a "quoted" realm' } });
    expect(all[1]!.scheme).toBe('bearer');
    expect(all[1]!.params).toEqual({ realm: 'https://x/token', service: 'svc', error: 'insufficient_scope' });
  });

  it('keeps scopes with spaces and commas inside quotes', () => {
    const [c] = parseWWWAuthenticate('Bearer realm="r",scope="repository:a:pull,push repository:b:pull"');
    expect(c!.params['scope']).toBe('repository:a:pull,push repository:b:pull');
  });

  it('lower-cases scheme and parameter names and ignores junk', () => {
    expect(parseWWWAuthenticate('BEARER Realm="r"')).toEqual([{ scheme: 'bearer', params: { realm: 'r' } }]);
    expect(parseWWWAuthenticate('')).toEqual([]);
    expect(parseWWWAuthenticate(' , ,')).toEqual([]);
  });
});
