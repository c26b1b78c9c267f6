import { describe, expect, it } from 'vitest';
import { canonicalJson, jsonBlob, manifestBlob } from './canonical-json.js';
import { chainIds, diffIdToChainId } from './chain-id.js';
import { parseImageConfig } from './config.js';
import { digestOf, type Digest } from './digest.js';
import { EMPTY_DESCRIPTOR } from './descriptor.js';
import { InvalidArgumentError, UnsupportedError } from './errors.js';
import { MAX_MANIFEST_SIZE, parseAnyManifest, parseIndex, parseManifest } from './manifest.js';
import { MediaType } from './media-types.js';

const d = (n: number): Digest => `sha256:${String(n).padStart(64, '0')}`;
const desc = (mediaType: string, n: number) => ({ mediaType, digest: d(n), size: n });
const ociManifest = {
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: desc(MediaType.OciConfig, 1),
  layers: [desc(MediaType.OciLayerGzip, 2), desc(MediaType.OciLayerGzip, 3), desc(MediaType.OciLayerZstd, 4)],
};
const bytes = (v: unknown) => JSON.stringify(v);

describe('manifests', () => {
  it('parses OCI and Docker manifests and indexes, detecting the kind', () => {
    expect(parseManifest(bytes(ociManifest)).layers).toHaveLength(3);
    const docker = { ...ociManifest, mediaType: MediaType.DockerManifest, config: desc(MediaType.DockerConfig, 1) };
    expect(parseAnyManifest(bytes(docker)).kind).toBe('manifest');
    const idx = { schemaVersion: 2, mediaType: MediaType.DockerManifestList, manifests: [{ ...desc(MediaType.DockerManifest, 5), platform: { os: 'linux', architecture: 'amd64' } }] };
    const any = parseAnyManifest(bytes(idx));
    expect(any.kind).toBe('index');
    expect(any.digest).toBe(digestOf(bytes(idx)));
    expect(parseIndex(bytes(idx)).manifests[0]?.platform?.os).toBe('linux');
    // No mediaType field: OCI allows it when the descriptor/Content-Type says what it is.
    const { mediaType: _drop, ...bare } = ociManifest;
    expect(parseAnyManifest(bytes(bare), `${MediaType.OciManifest}; charset=utf-8`).mediaType).toBe(MediaType.OciManifest);
  });

  it('supports artifactType and subject', () => {
    const art = { ...ociManifest, artifactType: 'application/vnd.example+json', config: EMPTY_DESCRIPTOR, subject: desc(MediaType.OciManifest, 9) };
    const m = parseManifest(bytes(art));
    expect(m.artifactType).toBe('application/vnd.example+json');
    expect(m.subject?.digest).toBe(d(9));
    expect(() => parseManifest(bytes({ ...art, subject: { ...art.subject, digest: 'nope' } }))).toThrow(/manifest.subject.digest/);
  });

  it.each<[string, unknown, string | undefined, RegExp]>([
    ['malformed JSON', '{"schemaVersion": 2,', undefined, /manifest: malformed JSON/],
    ['not an object', '[]', undefined, /manifest: must be an object/],
    ['missing mediaType', { ...ociManifest, mediaType: undefined }, undefined, /manifest.mediaType: missing/],
    ['wrong mediaType', { ...ociManifest, mediaType: 'application/vnd.foo+json' }, undefined, /manifest.mediaType: unsupported media type/],
    ['contradicting hint', ociManifest, MediaType.OciIndex, /manifest.mediaType: .* does not match/],
    ['Docker without mediaType', { ...ociManifest, mediaType: undefined }, MediaType.DockerManifest, /Docker schema2 .* requires it/],
    ['bad layer digest', { ...ociManifest, layers: [...ociManifest.layers.slice(0, 2), { ...desc(MediaType.OciLayer, 1), digest: 'sha256:xyz' }] }, undefined, /manifest.layers\[2\].digest: invalid digest/],
    ['negative size', { ...ociManifest, config: { ...ociManifest.config, size: -1 } }, undefined, /manifest.config.size: must be at least 0/],
    ['layers not array', { ...ociManifest, layers: {} }, undefined, /manifest.layers: must be an array/],
    ['schemaVersion 3', { ...ociManifest, schemaVersion: 3 }, undefined, /manifest.schemaVersion: must be 2/],
    ['index with config', { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [], config: ociManifest.config }, undefined, /index.config: not allowed/],
    ['bad annotation', { ...ociManifest, annotations: { a: 1 } }, undefined, /manifest.annotations\["a"\]: must be a string/],
    ['bad platform', { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ ...desc(MediaType.OciManifest, 1), platform: { os: 'linux' } }] }, undefined, /index.manifests\[0\].platform.architecture/],
    ['bad data', { ...ociManifest, config: { ...EMPTY_DESCRIPTOR, data: 'W10=' } }, undefined, /manifest.config.data: does not match digest/],
  ])('rejects %s with the field named', (_name, doc, hint, message) => {
    const input = typeof doc === 'string' ? doc : bytes(doc);
    expect(() => parseAnyManifest(input, hint)).toThrow(InvalidArgumentError);
    expect(() => parseAnyManifest(input, hint)).toThrow(message);
  });

  it('refuses schema1 as deprecated', () => {
    const s1 = { schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] };
    expect(() => parseAnyManifest(bytes(s1))).toThrow(UnsupportedError);
    expect(() => parseAnyManifest(bytes(s1))).toThrow(/schema 1 is deprecated/);
    expect(() => parseAnyManifest(bytes(ociManifest), MediaType.DockerManifestSchema1Signed)).toThrow(/schema 1 is deprecated/);
  });

  it('refuses manifests over 4 MiB before parsing', () => {
    const big = bytes({ ...ociManifest, annotations: { x: 'a'.repeat(MAX_MANIFEST_SIZE) } });
    expect(() => parseAnyManifest(big)).toThrow(/exceeds the 4194304-byte limit/);
  });

  it('parseManifest / parseIndex refuse the other kind', () => {
    expect(() => parseIndex(bytes(ociManifest))).toThrow(/is an image manifest, not an index/);
    expect(() => parseManifest(bytes({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }))).toThrow(/is an index/);
  });
});

const config = {
  created: '2024-01-02T03:04:05.123456789Z',
  architecture: 'amd64',
  os: 'windows',
  'os.version': '10.0.20348.2113',
  'os.features': ['win32k'],
  config: {
    User: 'app',
    Env: ['PATH=/bin'],
    Entrypoint: ['/bin/sh'],
    Cmd: null,
    WorkingDir: '/',
    Labels: { a: 'b' },
    ExposedPorts: { '80/tcp': {} },
    Volumes: { '/data': {} },
    StopSignal: 'SIGTERM',
    Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9, Timeout: 2e9, Retries: 3, StartPeriod: 0 },
  },
  rootfs: { type: 'layers', diff_ids: [d(1), d(2)] },
  history: [{ created: '2024-01-02T03:04:05Z', created_by: 'ADD x' }, { empty_layer: true }],
  container_config: { Hostname: 'kept' },
};

describe('image config', () => {
  it('parses a full config and keeps unknown fields', () => {
    const c = parseImageConfig(bytes(config));
    expect(c.config?.Healthcheck?.Retries).toBe(3);
    expect(c['os.version']).toBe('10.0.20348.2113');
    expect((c as unknown as Record<string, unknown>).container_config).toEqual({ Hostname: 'kept' });
  });
  it.each<[string, unknown, RegExp]>([
    ['bad diff id', { ...config, rootfs: { type: 'layers', diff_ids: [d(1), 'sha256:00'] } }, /config.rootfs.diff_ids\[1\]: invalid digest/],
    ['rootfs type', { ...config, rootfs: { type: 'tar', diff_ids: [] } }, /config.rootfs.type: must be "layers"/],
    ['no rootfs', { ...config, rootfs: undefined }, /config.rootfs: must be an object/],
    ['bad retries', { ...config, config: { ...config.config, Healthcheck: { Retries: -1 } } }, /config.config.Healthcheck.Retries: must be at least 0/],
    ['bad env', { ...config, config: { ...config.config, Env: ['A=1', 2] } }, /config.config.Env\[1\]: must be a string/],
    ['bad os.features', { ...config, 'os.features': 'win32k' }, /config\["os.features"\]: must be an array/],
    ['bad history', { ...config, history: [{}, { empty_layer: 'yes' }] }, /config.history\[1\].empty_layer: must be a boolean/],
    ['bad created', { ...config, created: 'yesterday' }, /config.created: "yesterday" is not an RFC 3339 time/],
    ['missing os', { ...config, os: undefined }, /config.os: must be a string/],
  ])('rejects %s', (_n, doc, message) => {
    expect(() => parseImageConfig(bytes(doc))).toThrow(message);
  });
  it('rejects malformed JSON', () => {
    expect(() => parseImageConfig('{')).toThrow(/config: malformed JSON/);
  });
});

describe('chain IDs and canonical JSON', () => {
  it('computes chain IDs', () => {
    const ids = chainIds([d(1), d(2), d(3)]);
    expect(ids[0]).toBe(d(1));
    expect(ids[1]).toBe(digestOf(`${d(1)} ${d(2)}`));
    expect(ids[2]).toBe(digestOf(`${ids[1]} ${d(3)}`));
    expect(diffIdToChainId(ids[1], d(3))).toBe(ids[2]);
    expect(chainIds([])).toEqual([]);
  });
  it('writes sorted keys without whitespace, one digest per content', () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }], u: undefined })).toBe('{"a":[{"c":"x","d":null}],"b":1}');
    const a = manifestBlob({ ...ociManifest });
    const reordered = manifestBlob({ layers: ociManifest.layers, config: ociManifest.config, mediaType: ociManifest.mediaType, schemaVersion: 2 } as typeof ociManifest);
    expect(a.descriptor.digest).toBe(reordered.descriptor.digest);
    expect(a.descriptor).toEqual({ mediaType: MediaType.OciManifest, digest: digestOf(a.bytes), size: a.bytes.length });
    expect(parseManifest(a.bytes).config.digest).toBe(d(1));
    expect(jsonBlob({}, MediaType.OciEmpty).descriptor.digest).toBe(EMPTY_DESCRIPTOR.digest);
    expect(() => canonicalJson({ x: NaN })).toThrow(/\$.x/);
    expect(() => manifestBlob({})).toThrow(/mediaType/);
  });
});
