import { describe, expect, it } from 'vitest';
import { Template, printValue, toJson } from '../src/format/template.js';
import { tabwrite } from '../src/format/tabwriter.js';
import { renderRows, renderEach, indentJson, prepareFormat } from '../src/format/render.js';
import { humanDuration } from '@berth/engine-api';
import { formatG, humanSize, bytesSize, parseBytes, timeAgo } from '../src/format/units.js';
import { containerFields, displayablePorts, ellipsis, imageRows, truncateId, CONTAINER_DEFAULT, CONTAINER_HEADERS } from '../src/format/contexts.js';
import { progressString, displayJsonMessages } from '../src/format/progress.js';
import { screen } from './support/screen.js';
import type { ContainerSummary, ImageSummary, JsonMessage } from '@berth/engine-api';

const t = (src: string, data: unknown): string => Template.parse(src).execute(data);

describe('Go template evaluator', () => {
  const inspect = {
    Id: 'abc',
    Name: '/web',
    State: { Status: 'running', Running: true, Pid: 42, ExitCode: 0 },
    Config: { Env: ['PATH=/bin', 'A=b'], Labels: { 'com.x': 'y', a: '1' }, Cmd: ['sleep', '300'] },
    NetworkSettings: { Networks: { bridge: { IPAddress: '10.0.0.2' } } },
    Mounts: [],
  };
  it('fields and nested fields', () => {
    expect(t('{{.Name}}', inspect)).toBe('/web');
    expect(t('{{.State.Status}} {{.State.Pid}}', inspect)).toBe('running 42');
    expect(t('{{.Config.Env}}', inspect)).toBe('[PATH=/bin A=b]');
    expect(t('{{.Config.Labels}}', inspect)).toBe('map[a:1 com.x:y]');
    expect(t('{{.Missing}}', inspect)).toBe('<no value>');
  });
  it('json, upper, lower, title, join, split, index, len', () => {
    expect(t('{{json .Config.Env}}', inspect)).toBe('["PATH=/bin","A=b"]');
    expect(t('{{json .State}}', inspect)).toBe('{"Status":"running","Running":true,"Pid":42,"ExitCode":0}');
    expect(t('{{upper .State.Status}}', inspect)).toBe('RUNNING');
    expect(t('{{.State.Status | upper}}', inspect)).toBe('RUNNING');
    expect(t('{{lower "ABC"}} {{title "hello world"}}', inspect)).toBe('abc Hello World');
    expect(t('{{join .Config.Cmd " "}}', inspect)).toBe('sleep 300');
    expect(t('{{index .Config.Labels "com.x"}}', inspect)).toBe('y');
    expect(t('{{(index .NetworkSettings.Networks "bridge").IPAddress}}', inspect)).toBe('10.0.0.2');
    expect(t('{{index (split "a:b:c" ":") 1}}', inspect)).toBe('b');
    expect(t('{{len .Config.Env}}', inspect)).toBe('2');
    expect(t('{{json .Mounts}}', inspect)).toBe('[]');
  });
  it('range, if/else, with, variables, trim markers', () => {
    expect(t('{{range .Config.Env}}{{.}};{{end}}', inspect)).toBe('PATH=/bin;A=b;');
    expect(t('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}', inspect)).toBe('a=1 com.x=y ');
    expect(t('{{range $i, $e := .Config.Cmd}}{{$i}}:{{$e}} {{end}}', inspect)).toBe('0:sleep 1:300 ');
    expect(t('{{if .State.Running}}up{{else}}down{{end}}', inspect)).toBe('up');
    expect(t('{{if eq .State.Status "exited"}}x{{else if eq .State.Status "running"}}r{{else}}?{{end}}', inspect)).toBe('r');
    expect(t('{{with .State}}{{.Pid}}{{end}}', inspect)).toBe('42');
    expect(t('{{$n := .Name}}{{$n}}', inspect)).toBe('/web');
    expect(t('a  {{- .Name -}}  b', inspect)).toBe('a/webb');
    expect(t('{{range .Mounts}}x{{else}}none{{end}}', inspect)).toBe('none');
    expect(t('{{printf "%s-%d" .Name .State.Pid}}', inspect)).toBe('/web-42');
    expect(t('{{$.Name}}', inspect)).toBe('/web');
    expect(t('{{not .State.Running}} {{and 1 2}} {{or 0 "x"}}', inspect)).toBe('false 2 x');
  });
  it('method fields with arguments (docker .Label "x")', () => {
    const row = { Label: (k: unknown) => (k === 'a' ? '1' : ''), ID: () => 'abc' };
    expect(t('{{.ID}} {{.Label "a"}}', row)).toBe('abc 1');
    expect(toJson(row)).toBe('{"ID":"abc"}');
  });
  it('errors are typed and name the problem', () => {
    expect(() => Template.parse('{{.Name')).toThrow(/unclosed action/);
    expect(() => Template.parse('{{nosuch .Name}}').execute({})).toThrow(/function "nosuch" not defined/);
    expect(() => Template.parse('{{if .A}}x')).toThrow(/unexpected EOF/);
  });
  it('printValue mirrors Go %v', () => {
    expect(printValue(null)).toBe('<nil>');
    expect(printValue([1, 'a'])).toBe('[1 a]');
    expect(printValue({ b: 1, a: [2] })).toBe('map[a:[2] b:1]');
  });
});

describe('tabwriter (Go text/tabwriter, docker settings)', () => {
  it('pads columns to the widest cell plus 3, at least 10', () => {
    expect(tabwrite('A\tBB\tC\nxxxxxxxxxxxxx\ty\tz\n')).toBe('A               BB        C\nxxxxxxxxxxxxx   y         z\n');
  });
  it('an empty cell keeps its column', () => {
    expect(tabwrite('ID\tPORTS\tNAMES\nabc\t\tweb\n')).toBe('ID        PORTS     NAMES\nabc                 web\n');
  });
  it('lines without tabs end a column block', () => {
    expect(tabwrite('a\tb\nplain\nccccccccccccc\td\n')).toBe('a         b\nplain\nccccccccccccc   d\n');
  });
});

describe('units', () => {
  it('sizes like go-units', () => {
    expect(humanSize(4_260_000, 3)).toBe('4.26MB');
    expect(humanSize(0, 3)).toBe('0B');
    expect(humanSize(999, 3)).toBe('999B');
    expect(humanSize(1000, 3)).toBe('1kB');
    expect(humanSize(2_134_567, 3)).toBe('2.13MB');
    expect(humanSize(1_234_567)).toBe('1.235MB');
    expect(bytesSize(1024 * 1024 * 512)).toBe('512MiB');
    expect(formatG(123456, 3)).toBe('1.23e+05');
    expect(parseBytes('512m')).toBe(512 * 1024 * 1024);
    expect(parseBytes('1g')).toBe(1024 ** 3);
  });
  it('durations like go-units', () => {
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(1000)).toBe('1 second');
    expect(humanDuration(3000)).toBe('3 seconds');
    expect(humanDuration(61_000)).toBe('About a minute');
    expect(humanDuration(5 * 60_000)).toBe('5 minutes');
    expect(humanDuration(3_600_000)).toBe('About an hour');
    expect(humanDuration(5 * 3_600_000)).toBe('5 hours');
    expect(humanDuration(3 * 86_400_000)).toBe('3 days');
    expect(humanDuration(20 * 86_400_000)).toBe('2 weeks');
    expect(humanDuration(90 * 86_400_000)).toBe('3 months');
    expect(humanDuration(800 * 86_400_000)).toBe('2 years');
    expect(timeAgo(1000, 1000_000 + 75_000)).toBe('About a minute ago');
  });
});

describe('docker rows', () => {
  const now = Date.UTC(2026, 10, 27, 7, 0, 0);
  const c: ContainerSummary = {
    Id: 'a'.repeat(64),
    Names: ['/web'],
    Image: 'busybox',
    ImageID: `sha256:${'b'.repeat(64)}`,
    Command: "sh -c 'echo hello world; sleep 1000'",
    Created: now / 1000 - 3,
    Ports: [
      { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
      { PrivatePort: 443, Type: 'tcp' },
      { PrivatePort: 444, Type: 'tcp' },
    ],
    Labels: { b: '2', a: '1' },
    State: 'running',
    Status: 'Up 3 seconds',
    HostConfig: { NetworkMode: 'bridge' },
    NetworkSettings: { Networks: { bridge: {} } },
    Mounts: [],
  };
  it('ps default table', () => {
    const out = renderRows([containerFields(c, { trunc: true, now })], { format: undefined, defaultFormat: CONTAINER_DEFAULT, headers: CONTAINER_HEADERS });
    expect(out.split('\n')[0]).toBe('CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         PORTS                               NAMES');
    expect(out.split('\n')[1]).toBe(`${'a'.repeat(12)}   busybox   "sh -c 'echo hello w…"   3 seconds ago   Up 3 seconds   443-444/tcp, 0.0.0.0:8080->80/tcp   web`);
  });
  it('ps formats: fields, Label, json, table', () => {
    const row = containerFields(c, { trunc: true, now });
    expect(renderRows([row], { format: '{{.ID}} {{.Label "a"}} {{.Labels}}', defaultFormat: CONTAINER_DEFAULT, headers: CONTAINER_HEADERS })).toBe(`${'a'.repeat(12)} 1 a=1,b=2\n`);
    const json = JSON.parse(renderRows([row], { format: 'json', defaultFormat: CONTAINER_DEFAULT, headers: CONTAINER_HEADERS }));
    expect(json.Names).toBe('web');
    expect(json.Label).toBeUndefined();
    expect(renderRows([row], { format: 'table {{.ID}}\\t{{.Names}}', defaultFormat: CONTAINER_DEFAULT, headers: CONTAINER_HEADERS })).toBe(`CONTAINER ID   NAMES\n${'a'.repeat(12)}   web\n`);
  });
  it('ports, ids, ellipsis', () => {
    expect(displayablePorts([{ IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }])).toBe('[::]:8080->80/tcp');
    expect(displayablePorts([{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 80, Type: 'tcp' }])).toBe('0.0.0.0:80->80/tcp');
    expect(truncateId(`sha256:${'c'.repeat(64)}`)).toBe('c'.repeat(12));
    expect(ellipsis('abcdef', 4)).toBe('abc…');
  });
  it('images rows: tags, untagged', () => {
    const img: ImageSummary = {
      Id: `sha256:${'d'.repeat(64)}`,
      ParentId: '',
      RepoTags: ['busybox:latest', '127.0.0.1:5000/busybox:v1'],
      RepoDigests: [],
      Created: now / 1000 - 7200,
      Size: 4_260_000,
      SharedSize: -1,
      Labels: {},
      Containers: -1,
    };
    const rows = imageRows([img, { ...img, RepoTags: [] }], { trunc: true, digests: false, now });
    const out = renderRows(rows, { format: undefined, defaultFormat: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}', headers: { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', CreatedSince: 'CREATED', Size: 'SIZE' } });
    expect(out).toBe(
      [
        'REPOSITORY               TAG       IMAGE ID       CREATED       SIZE',
        `busybox                  latest    ${'d'.repeat(12)}   2 hours ago   4.26MB`,
        `127.0.0.1:5000/busybox   v1        ${'d'.repeat(12)}   2 hours ago   4.26MB`,
        `<none>                   <none>    ${'d'.repeat(12)}   2 hours ago   4.26MB`,
        '',
      ].join('\n'),
    );
  });
  it('inspect output helpers', () => {
    expect(indentJson([])).toBe('[]\n');
    expect(indentJson([{ a: [] }])).toBe('[\n    {\n        "a": []\n    }\n]\n');
    expect(renderEach([{ a: 1 }, { a: 2 }], '{{.a}}')).toBe('1\n2\n');
    expect(prepareFormat('table {{.A}}\\t{{.B}}')).toEqual({ table: true, source: '{{.A}}\t{{.B}}' });
  });
});

describe('progress display', () => {
  async function* gen(msgs: JsonMessage[]): AsyncGenerator<JsonMessage> {
    yield* msgs;
  }
  const pull: JsonMessage[] = [
    { status: 'Pulling from library/busybox', id: 'latest' },
    { status: 'Pulling fs layer', progressDetail: {}, id: 'aaa' },
    { status: 'Waiting', progressDetail: {}, id: 'bbb' },
    { status: 'Downloading', progressDetail: { current: 1_200_000, total: 4_500_000 }, id: 'aaa' },
    { status: 'Download complete', progressDetail: {}, id: 'aaa' },
    { status: 'Extracting', progressDetail: { current: 4_500_000, total: 4_500_000 }, id: 'aaa' },
    { status: 'Pull complete', progressDetail: {}, id: 'aaa' },
    { status: 'Pull complete', progressDetail: {}, id: 'bbb' },
    { status: `Digest: sha256:${'e'.repeat(64)}` },
    { status: 'Status: Downloaded newer image for busybox:latest' },
  ];
  it('bars like docker', () => {
    expect(progressString({ current: 1_200_000, total: 4_500_000 }, 200)).toBe(`[=============>${' '.repeat(37)}]    1.2MB/4.5MB`);
    expect(progressString({ current: 1_200_000, total: 4_500_000 }, 80)).toBe('   1.2MB/4.5MB');
    expect(progressString({}, 200)).toBe('');
  });
  it('plain lines when not a terminal', async () => {
    let out = '';
    await displayJsonMessages(gen(pull), { write: (s: string) => (out += s) }, { isTerminal: false });
    expect(out).toBe(
      [
        'latest: Pulling from library/busybox',
        'aaa: Pulling fs layer',
        'bbb: Waiting',
        'aaa: Download complete',
        'aaa: Pull complete',
        'bbb: Pull complete',
        `Digest: sha256:${'e'.repeat(64)}`,
        'Status: Downloaded newer image for busybox:latest',
        '',
      ].join('\n'),
    );
  });
  it('redrawn in place on a terminal', async () => {
    let out = '';
    await displayJsonMessages(gen(pull), { write: (s: string) => (out += s) }, { isTerminal: true, columns: 120 });
    expect(out).toContain('\x1b[2K\raaa: Downloading [=============>');
    expect(out).toContain('\x1b[1A');
    expect(out).toContain('\x1b[2A');
    // a screen emulation: the final lines hold one status per layer
    expect(screen(out)).toEqual(['latest: Pulling from library/busybox', 'aaa: Pull complete', 'bbb: Pull complete', `Digest: sha256:${'e'.repeat(64)}`, 'Status: Downloaded newer image for busybox:latest']);
  });
});

