import { describe, expect, it } from 'vitest';
import { parseK8sLogLine } from './k8s-log.js';

describe('parseK8sLogLine', () => {
  it('parses full and partial lines', () => {
    expect(parseK8sLogLine('2026-11-27T04:04:42.894804476+00:00 stdout F hello world')).toEqual({
      time: '2026-11-27T04:04:42.894804476+00:00',
      stream: 'stdout',
      partial: false,
      line: 'hello world',
    });
    expect(parseK8sLogLine('2026-11-27T04:04:42.9+00:00 stderr P part')).toMatchObject({ stream: 'stderr', partial: true, line: 'part' });
    expect(parseK8sLogLine('2026-11-27T04:04:42.9+00:00 stdout F ')).toMatchObject({ line: '' });
    expect(parseK8sLogLine('garbage')).toBeUndefined();
  });
});
