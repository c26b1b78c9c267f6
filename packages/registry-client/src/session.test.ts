import { afterEach, describe, expect, it } from 'vitest';
import { proxyFor } from './session.js';

const saved = { ...process.env };
afterEach(() => {
  for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('proxyFor', () => {
  it('takes the environment, except for loopback registries', () => {
    process.env['HTTPS_PROXY'] = 'http://proxy.example:3128';
    process.env['NO_PROXY'] = '.internal';
    expect(proxyFor('ghcr.io', undefined)).toEqual({ httpProxy: undefined, httpsProxy: 'http://proxy.example:3128', noProxy: '.internal' });
    expect(proxyFor('127.0.0.1:5000', undefined)).toBeUndefined();
    expect(proxyFor('localhost:5000', undefined)).toBeUndefined();
  });

  it('uses no proxy when none is configured or when told not to', () => {
    for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY']) delete process.env[k];
    expect(proxyFor('ghcr.io', undefined)).toBeUndefined();
    process.env['HTTP_PROXY'] = 'http://proxy.example:3128';
    expect(proxyFor('ghcr.io', false)).toBeUndefined();
  });

  it('uses explicit settings as given, loopback included', () => {
    const p = { httpProxy: 'http://127.0.0.1:9' };
    expect(proxyFor('127.0.0.1:5000', p)).toBe(p);
  });
});
