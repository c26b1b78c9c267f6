import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { digestOf, type Descriptor } from '@berth/image-format';

const run = promisify(execFile);

/** `skopeo copy docker://SRC oci:DIR:TAG`, returning the digest of the manifest it wrote. */
export async function skopeoPull(src: string, dir: string, tag: string, extra: string[] = []): Promise<string> {
  await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', ...extra, `docker://${src}`, `oci:${dir}:${tag}`], {
    timeout: 120_000,
  });
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const m = index.manifests.find((d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!m) throw new Error(`skopeo wrote no manifest tagged ${tag}`);
  return m.digest;
}

/** `skopeo inspect --raw`: the digest of the manifest bytes the registry serves. */
export async function skopeoRawDigest(ref: string, extra: string[] = []): Promise<string> {
  const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${ref}`], {
    timeout: 60_000,
    encoding: 'buffer',
  });
  return digestOf(stdout);
}

/** `skopeo inspect` (parsed), for checks a person would make: layers and digest. */
export async function skopeoInspect(ref: string, extra: string[] = []): Promise<{ Digest: string; Layers: string[] }> {
  const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', ...extra, `docker://${ref}`], { timeout: 60_000 });
  return JSON.parse(stdout) as { Digest: string; Layers: string[] };
}
