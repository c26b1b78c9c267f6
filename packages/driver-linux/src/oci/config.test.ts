import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH, labelsAsAnnotations, mergeEnv } from './config.js';

describe('mergeEnv', () => {
  it('image env first, then user env; PATH and HOME filled', () => {
    expect(mergeEnv(['A=1', 'B=image'], ['B=user', 'C'], '/home/u')).toEqual(['A=1', 'B=user', 'C=', `PATH=${DEFAULT_PATH}`, 'HOME=/home/u']);
    expect(mergeEnv(['PATH=/x'], ['HOME=/h'], '/ignored')).toEqual(['PATH=/x', 'HOME=/h']);
  });
});

describe('labelsAsAnnotations', () => {
  it('passes labels through but never a run.oci.* one (crun acts on those)', () => {
    expect(
      labelsAsAnnotations({
        'com.example.team': 'web',
        'run.oci.seccomp_bpf_data': 'AAAA',
        'run.oci.hooks.stdout': '/etc/passwd',
        'run.oci.handler': 'krun',
      }),
    ).toEqual({ 'com.example.team': 'web' });
    expect(labelsAsAnnotations({ 'run.oci.handler': 'krun' })).toBeUndefined();
    expect(labelsAsAnnotations(undefined)).toBeUndefined();
  });
});
