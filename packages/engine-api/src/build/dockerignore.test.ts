import { describe, expect, it } from 'vitest';
import { DockerIgnore } from './dockerignore.js';

describe('DockerIgnore (Docker\'s .dockerignore rules)', () => {
  const ignore = new DockerIgnore([
    'ignored',
    'Dockerfile',
    ' ignored-with-spaces ',
    '!ignored/subdir/excepted-file',
    '! ignored/subdir/excepted-with-spaces  ',
    '',
    '#*',
    '/abs/*.log',
    '**/tmp',
  ]);

  it('trims patterns, also after !; skips blank and comment lines', () => {
    expect(ignore.excludes('ignored-with-spaces')).toBe(true);
    expect(ignore.excludes('ignored/subdir/excepted-with-spaces')).toBe(false);
    expect(ignore.excludes('#file.txt')).toBe(false);
  });

  it('a matching directory excludes what is below it, unless a later ! line takes it back', () => {
    expect(ignore.excludes('ignored/subdir/file')).toBe(true);
    expect(ignore.excludes('ignored/subdir/excepted-file')).toBe(false);
    expect(ignore.excludes('Dockerfile')).toBe(true);
    expect(new DockerIgnore(['*', '!Dockerfile']).excludes('Dockerfile')).toBe(false);
    expect(new DockerIgnore(['*', '!Dockerfile']).excludes('.dockerignore')).toBe(true);
  });

  it('roots patterns at the context; ** crosses directories', () => {
    expect(ignore.excludes('abs/x.log')).toBe(true);
    expect(ignore.excludes('abs/sub/x.log')).toBe(false);
    expect(ignore.excludes('a/b/tmp/f')).toBe(true);
    expect(ignore.excludes('tmp')).toBe(true);
  });
});
