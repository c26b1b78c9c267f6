import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile.js';
import { heredocRunCommand } from './heredoc.js';
import { parseMountSpec } from './run-mounts.js';
import { checkSyntaxDirective, parseCheckDirective } from './directives.js';

// The forms below are those of docs.docker.com's Dockerfile reference (docker/dockerfile:1).
describe('docker/dockerfile:1 directives', () => {
  it('serves docker/dockerfile:1 and its 1.x versions, refuses other frontends by name', () => {
    for (const ok of ['docker/dockerfile:1', 'docker/dockerfile:1.7', 'docker/dockerfile:1.7.1', 'docker/dockerfile:1-labs', 'docker.io/docker/dockerfile:1', 'docker/dockerfile', `docker/dockerfile:1@sha256:${'a'.repeat(64)}`]) {
      expect(() => checkSyntaxDirective(ok)).not.toThrow();
    }
    expect(() => checkSyntaxDirective('docker/dockerfile:0.9')).toThrow(/unsupported Dockerfile frontend "docker\/dockerfile:0.9"/);
    expect(() => parseDockerfile('# syntax=example.com/my/frontend:2\nFROM busybox\n')).toThrow(/unsupported Dockerfile frontend "example.com\/my\/frontend:2"/);
    const df = parseDockerfile('# syntax=docker/dockerfile:1\n# check=skip=JSONArgsRecommended;error=true\nFROM busybox\n');
    expect(df.syntax).toBe('docker/dockerfile:1');
    expect(df.check).toEqual({ skip: ['JSONArgsRecommended'], error: true });
    expect(df.instructions).toHaveLength(1);
  });

  it('reads # check= forms', () => {
    expect(parseCheckDirective('skip=all')).toEqual({ skip: ['all'], error: false });
    expect(parseCheckDirective('skip=A,B;error=false')).toEqual({ skip: ['A', 'B'], error: false });
    expect(() => parseDockerfile('# check=error=maybe\nFROM busybox\n')).toThrow(/line 1: invalid check directive/);
  });
});

describe('heredocs', () => {
  it('reads RUN <<EOF bodies and runs them with the shell', () => {
    const df = parseDockerfile('FROM busybox\nRUN <<EOF\napk update\napk add git\nEOF\nRUN echo after\n');
    const run = df.instructions[1]!;
    expect(run.heredocs).toEqual([{ name: 'EOF', data: 'apk update\napk add git\n', chomp: false, expand: true }]);
    expect(df.instructions[2]!.args).toEqual(['echo after']);
    expect(df.instructions[2]!.line).toBe(6);
    expect(heredocRunCommand(run.args[0]!, run.heredocs!)).toEqual({ command: 'apk update\napk add git\n' });
  });

  it('runs a shebang heredoc as a script', () => {
    const df = parseDockerfile('FROM python:3.6\nRUN <<EOT\n#!/usr/bin/env python\nprint("hello world")\nEOT\n');
    expect(heredocRunCommand(df.instructions[1]!.args[0]!, df.instructions[1]!.heredocs!)).toEqual({
      script: { name: 'EOT', data: '#!/usr/bin/env python\nprint("hello world")\n' },
      command: '/dev/pipes/EOT',
    });
  });

  it('hands a command with heredocs (several per line) to the shell whole', () => {
    const df = parseDockerfile('FROM busybox\nRUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\n');
    const run = df.instructions[1]!;
    expect(run.heredocs!.map((h) => [h.name, h.data])).toEqual([['FILE1', 'I am\nfirst\n'], ['FILE2', 'I am\nsecond\n']]);
    expect(heredocRunCommand(run.args[0]!, run.heredocs!).command).toBe('<<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2');
  });

  it('strips leading tabs with <<- and keeps quoted delimiters unexpanded', () => {
    const df = parseDockerfile('FROM busybox\nCOPY <<-"EOT" /app/\n\t\tmy $HOME\n\tEOT\nCOPY <<EOF2 /x\n$HOME\nEOF2\n');
    expect(df.instructions[1]!.heredocs).toEqual([{ name: 'EOT', data: 'my $HOME\n', chomp: true, expand: false }]);
    expect(df.instructions[2]!.heredocs).toEqual([{ name: 'EOF2', data: '$HOME\n', chomp: false, expand: true }]);
  });

  it('does not take a quoted <<EOF for a heredoc, and reports one never closed', () => {
    expect(parseDockerfile("FROM busybox\nRUN echo '<<EOF'\n").instructions[1]!.heredocs).toBeUndefined();
    expect(() => parseDockerfile('FROM busybox\nRUN <<EOF\necho hi\n')).toThrow(/line 2: unterminated heredoc/);
  });
});

describe('instruction flags', () => {
  it('reads RUN --mount (repeatable), --network and --security', () => {
    const df = parseDockerfile('FROM busybox\nRUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=aws,target=/root/.aws/credentials --network=none echo hi\n');
    const run = df.instructions[1]!;
    expect(run.flagLists!['mount']).toEqual(['type=cache,target=/root/.cache', 'type=secret,id=aws,target=/root/.aws/credentials']);
    expect(run.flags['network']).toBe('none');
    expect(run.args).toEqual(['echo hi']);
    expect(() => parseDockerfile('FROM busybox\nRUN --network=bridge true\n')).toThrow(/line 2: unsupported network mode "bridge"/);
    expect(() => parseDockerfile('FROM busybox\nRUN --mount=type=ssh true\n')).toThrow(/type=ssh is not supported/);
    expect(() => parseDockerfile('FROM busybox\nRUN --mount=type=bind true\n')).toThrow(/bind mount needs a target/);
    expect(() => parseDockerfile('FROM busybox\nRUN --mount=type=cache,target=/x,bogus=1 true\n')).toThrow(/unexpected key 'bogus'/);
  });

  it('reads COPY --chmod, --link, --parents, --exclude and ADD --checksum', () => {
    const df = parseDockerfile(
      [
        'FROM busybox',
        'COPY --chmod=755 --link app.sh /usr/local/bin/',
        'COPY --parents --exclude=*.md --exclude=*.txt ./x/**/ /dst/',
        'ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://mirrors.edge.kernel.org/pub/linux/kernel/Historic/linux-0.01.tar.gz /',
        'COPY --link=false a /a',
      ].join('\n'),
    );
    expect(df.instructions[1]!.flags).toEqual({ chmod: '755', link: 'true' });
    expect(df.instructions[2]!.flags['parents']).toBe('true');
    expect(df.instructions[2]!.flagLists!['exclude']).toEqual(['*.md', '*.txt']);
    expect(df.instructions[3]!.flags['checksum']).toMatch(/^sha256:2445/);
    expect(df.instructions[4]!.flags['link']).toBe('false');
    expect(() => parseDockerfile('FROM busybox\nCOPY --chmod=u+x a /a\n')).toThrow(/line 2: invalid chmod parameter/);
    expect(() => parseDockerfile('FROM busybox\nADD --checksum=md5:00 a /a\n')).toThrow(/line 2: invalid checksum/);
    expect(() => parseDockerfile('FROM busybox\nCOPY --from a /a\n')).toThrow(/Missing a value on flag: --from/);
  });
});

describe('mount specs', () => {
  it('applies BuildKit defaults', () => {
    expect(parseMountSpec('target=/src')).toMatchObject({ type: 'bind', target: '/src', readonly: true, source: '' });
    expect(parseMountSpec('type=bind,source=a,target=/src,rw')).toMatchObject({ readonly: false, source: 'a' });
    expect(parseMountSpec('type=cache,target=/var/cache/apt,sharing=locked')).toMatchObject({ id: '/var/cache/apt', sharing: 'locked', readonly: false });
    expect(parseMountSpec('type=cache,id=gomod,target=/go/pkg,mode=0700,uid=1000,gid=1000')).toMatchObject({ id: 'gomod', mode: 0o700, uid: 1000, gid: 1000 });
    expect(parseMountSpec('type=secret,id=aws')).toMatchObject({ id: 'aws', target: '/run/secrets/aws', readonly: true, required: false });
    expect(parseMountSpec('type=secret,id=API_KEY,env=API_KEY')).toMatchObject({ env: 'API_KEY', target: '' });
    expect(parseMountSpec('type=secret,target=/root/.npmrc,required')).toMatchObject({ id: '.npmrc', required: true });
    expect(parseMountSpec('type=tmpfs,target=/tmp,size=64m')).toMatchObject({ type: 'tmpfs', size: 64 * 1024 * 1024 });
    expect(parseMountSpec('type=bind,"target=/a,b"')).toMatchObject({ target: '/a,b' });
    expect(parseMountSpec('type=cache,target=$DIR', (v) => v.replace('$DIR', '/c'))).toMatchObject({ target: '/c', id: '/c' });
  });
});
