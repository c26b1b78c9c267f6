// Hostile input never crashes the parsers: it parses or throws a BerthError naming a field.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseImageConfig } from './config.js';
import { BerthError } from './errors.js';
import { parseAnyManifest } from './manifest.js';
import { MediaType } from './media-types.js';

const descriptorish = fc.record(
  {
    mediaType: fc.oneof(fc.constant(MediaType.OciLayerGzip), fc.string()),
    digest: fc.oneof(fc.constant('sha256:' + 'a'.repeat(64)), fc.string()),
    size: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.string()),
    annotations: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())),
    platform: fc.record({ os: fc.string(), architecture: fc.oneof(fc.string(), fc.nat()) }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);
const manifestish = fc.record(
  {
    schemaVersion: fc.oneof(fc.constant(2), fc.constant(1), fc.jsonValue()),
    mediaType: fc.oneof(fc.constantFrom(MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest), fc.string()),
    config: fc.oneof(descriptorish, fc.jsonValue()),
    layers: fc.oneof(fc.array(descriptorish), fc.jsonValue()),
    manifests: fc.array(descriptorish),
    subject: descriptorish,
    artifactType: fc.string(),
  },
  { requiredKeys: [] },
);

function onlyBerthErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    expect((err as Error).message).toMatch(/^(manifest|index|config)[.:[]/);
  }
}

describe('parsers under hostile input', () => {
  it('manifests and indexes', () => {
    fc.assert(
      fc.property(fc.oneof(manifestish, fc.jsonValue()), fc.option(fc.string(), { nil: undefined }), (doc, hint) => {
        onlyBerthErrors(() => parseAnyManifest(JSON.stringify(doc) ?? 'null', hint));
      }),
      { numRuns: 1000 },
    );
    fc.assert(fc.property(fc.string(), (text) => onlyBerthErrors(() => parseAnyManifest(text))), { numRuns: 300 });
  });

  it('image configs', () => {
    const configish = fc.record(
      {
        architecture: fc.oneof(fc.string(), fc.jsonValue()),
        os: fc.string(),
        rootfs: fc.oneof(fc.record({ type: fc.constant('layers'), diff_ids: fc.array(fc.string()) }), fc.jsonValue()),
        config: fc.oneof(fc.record({ Env: fc.array(fc.string()), Healthcheck: fc.jsonValue() }, { requiredKeys: [] }), fc.jsonValue()),
        history: fc.oneof(fc.array(fc.dictionary(fc.string(), fc.jsonValue())), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(configish, fc.jsonValue()), (doc) => onlyBerthErrors(() => parseImageConfig(JSON.stringify(doc) ?? 'null'))),
      { numRuns: 1000 },
    );
  });
});
