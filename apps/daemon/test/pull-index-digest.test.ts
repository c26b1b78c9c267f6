import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRegistry, type SeededRegistry } from '@berth/fixtures';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { docker, dockerOk } from './support/docker-cli.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/**
 * Puts a two-platform index at `repo:tag` next to the seeded busybox: this host's platform
 * (the busybox manifest) and a copy of it whose config says s390x. Returns the digests.
 */
async function pushTwoPlatformIndex(url: string, busybox: string, repo: string, tag: string): Promise<{ index: string; host: string }> {
  const [from, fromTag] = busybox.slice(busybox.indexOf('/') + 1).split(':') as [string, string];
  const get = async (path: string, accept?: string): Promise<Buffer> => {
    const res = await fetch(url + path, accept ? { headers: { Accept: accept } } : {});
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  };
  const put = async (path: string, body: Buffer, type: string): Promise<void> => {
    const res = await fetch(url + path, { method: 'PUT', body, headers: { 'Content-Type': type } });
    if (res.status !== 201) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
  };
  const hostBytes = await get(`/v2/${from}/manifests/${fromTag}`, OCI_MANIFEST);
  const manifest = JSON.parse(hostBytes.toString()) as { config: { digest: string; size: number }; layers: { digest: string }[] };
  const config = JSON.parse((await get(`/v2/${from}/blobs/${manifest.config.digest}`)).toString()) as { architecture: string; os: string };
  const hostPlatform = { architecture: config.architecture, os: config.os };
  // the blobs into this repository (cross-repo mount), the host manifest under its own tag
  for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?mount=${d}&from=${from}`, { method: 'POST' });
    if (res.status !== 201) throw new Error(`mount ${d}: ${res.status}`);
  }
  await put(`/v2/${repo}/manifests/${tag}-host`, hostBytes, OCI_MANIFEST);
  const otherConfig = Buffer.from(JSON.stringify({ ...config, architecture: 's390x' }));
  const upload = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(upload.headers.get('location')!, url);
  location.searchParams.set('digest', sha(otherConfig));
  await put(location.pathname + location.search, otherConfig, 'application/octet-stream');
  const other = Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, digest: sha(otherConfig), size: otherConfig.length } }));
  await put(`/v2/${repo}/manifests/${tag}-s390x`, other, OCI_MANIFEST);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: sha(hostBytes), size: hostBytes.length, platform: hostPlatform },
        { mediaType: OCI_MANIFEST, digest: sha(other), size: other.length, platform: { architecture: 's390x', os: 'linux' } },
      ],
    }),
  );
  await put(`/v2/${repo}/manifests/${tag}`, index, OCI_INDEX);
  return { index: sha(index), host: sha(hostBytes) };
}

/**
 * A tag that names an image index: dockerd 20.10 records the index's digest, not the
 * platform manifest's it picked. Asked with the same two-platform index pushed to a
 * 127.0.0.1 registry, dockerd answered:
 *   pull:                 "Digest: sha256:<index>"
 *   inspect .RepoDigests: ["127.0.0.1:PORT/repo@sha256:<index>"]
 *   images --digests:     one row, DIGEST sha256:<index>
 *   then pull repo@sha256:<platform manifest>: "Status: Downloaded newer image for
 *   repo@sha256:<platform manifest>", RepoDigests holds both, two rows.
 * Before that pull, repo@sha256:<platform manifest> is no reference it holds:
 *   image inspect:  "No such image: repo@sha256:<platform manifest>" (exit 1)
 *   run:            "Unable to find image 'repo@sha256:<platform manifest>' locally", it pulls
 *                   ("Digest: sha256:<platform manifest>"), runs, and RepoDigests holds both.
 */
describe('RepoDigests of a tag naming an image index', () => {
  let t: TestDaemon;
  let reg: SeededRegistry;
  let digests: { index: string; host: string };
  let repo: string;
  /** The same index in a repository of its own, for a lookup by the platform manifest's digest. */
  let other: string;

  beforeAll(async () => {
    reg = await seededRegistry();
    t = await startTestDaemon();
    const name = `multi-${Math.random().toString(16).slice(2, 8)}`;
    digests = await pushTwoPlatformIndex(reg.registry.url, reg.busybox, name, 'v1');
    repo = `${reg.registry.host}/${name}`;
    await pushTwoPlatformIndex(reg.registry.url, reg.busybox, `${name}-other`, 'v1');
    other = `${repo}-other`;
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    await reg?.stop();
  });

  it("pull by tag prints and records the index's digest", async () => {
    const out = await dockerOk(t.dockerEnv, ['pull', `${repo}:v1`]);
    expect(out).toContain(`Digest: ${digests.index}\n`);
    expect(out).not.toContain(digests.host);
    expect(JSON.parse(await dockerOk(t.dockerEnv, ['inspect', '-f', '{{json .RepoDigests}}', `${repo}:v1`]))).toEqual([`${repo}@${digests.index}`]);
    const rows = (await dockerOk(t.dockerEnv, ['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}', repo])).trim().split('\n');
    expect(rows).toEqual([`${repo} v1 ${digests.index}`]);
  });

  it('pull by the platform manifest digest adds that digest beside it', async () => {
    const out = await dockerOk(t.dockerEnv, ['pull', `${repo}@${digests.host}`]);
    expect(out).toContain(`Digest: ${digests.host}\n`);
    // dockerd: a new reference to the same image is still "newer"
    expect(out).toContain(`Status: Downloaded newer image for ${repo}@${digests.host}`);
    expect(JSON.parse(await dockerOk(t.dockerEnv, ['inspect', '-f', '{{json .RepoDigests}}', `${repo}:v1`]))).toEqual([`${repo}@${digests.host}`, `${repo}@${digests.index}`].sort());
    const rows = (await dockerOk(t.dockerEnv, ['images', '--digests', '--format', '{{.Tag}} {{.Digest}}', repo])).trim().split('\n').sort();
    expect(rows).toEqual([`v1 ${digests.host}`, `v1 ${digests.index}`].sort());
  });

  it('name@<platform manifest digest> of an image pulled through its index is not found locally; run pulls it', async () => {
    await dockerOk(t.dockerEnv, ['pull', `${other}:v1`]);
    const byPlatform = `${other}@${digests.host}`;
    const inspected = await docker(t.dockerEnv, ['image', 'inspect', '-f', '{{.Id}}', byPlatform]);
    expect(inspected.code).toBe(1);
    expect(inspected.stderr).toContain(`No such image: ${byPlatform}`);
    const ran = await docker(t.dockerEnv, ['run', '--rm', '--network', 'none', byPlatform, 'true']);
    expect(ran.code).toBe(0);
    expect(ran.stderr).toContain(`Unable to find image '${byPlatform}' locally`);
    expect(ran.stderr).toContain(`Digest: ${digests.host}`);
    // (the image is the one pulled above under the first name too: its digests are listed beside)
    const recorded = (JSON.parse(await dockerOk(t.dockerEnv, ['inspect', '-f', '{{json .RepoDigests}}', `${other}:v1`])) as string[]).filter((d) => d.startsWith(`${other}@`));
    expect(recorded).toEqual([`${other}@${digests.host}`, `${other}@${digests.index}`].sort());
  });
});
