import { describe, expect, it } from 'vitest';
import { logConfigOf, parseSize, validateLogConfig } from './log-config.js';

describe('log config', () => {
  it('parses Docker sizes', () => {
    expect(parseSize('10m')).toBe(10 * 1024 * 1024);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('100')).toBe(100);
    expect(() => parseSize('ten')).toThrow(/invalid max-size/);
  });

  it('reports json-file unless another driver was asked for, and refuses unknown drivers as Docker does', () => {
    expect(logConfigOf({})).toEqual({ Type: 'json-file', Config: {} });
    expect(logConfigOf({ LogConfig: { Type: '', Config: {} } })).toEqual({ Type: 'json-file', Config: {} });
    expect(logConfigOf({ LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } } })).toEqual({ Type: 'json-file', Config: { 'max-size': '1m' } });
    expect(() => validateLogConfig({ LogConfig: { Type: 'none' } })).not.toThrow();
    expect(() => validateLogConfig({ LogConfig: { Type: 'bogus' } })).toThrow('error looking up logging plugin bogus: plugin "bogus" not found');
  });
});
