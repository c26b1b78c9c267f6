// better-sqlite3's install script (prebuild-install) downloads a prebuilt addon from the
// project's release page, and only compiles when that fails. This machine reaches no such
// page, so the release test stands in for it: a loopback server with the same file the
// release page has, made from the addon the workspace already built, found through
// prebuild-install's own mirror setting. An install of @berth/layer-store then takes the
// path a user's machine takes, and needs no compiler.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PrebuiltMirror {
  /** Environment for npm: `npm_config_better_sqlite3_binary_host`. */
  env: Record<string, string>;
  /** How many addons were downloaded from it. */
  downloads(): number;
  close(): Promise<void>;
}

export async function startPrebuiltMirror(dir: string, fromPackage: string): Promise<PrebuiltMirror> {
  // resolved the way the workspace package that depends on it resolves it
  const require = createRequire(join(fromPackage, 'package.json'));
  const sqliteDir = dirname(require.resolve('better-sqlite3/package.json'));
  const { version } = JSON.parse(await readFile(join(sqliteDir, 'package.json'), 'utf8')) as { version: string };
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const tarball = join(dir, name);
  await mkdir(dir, { recursive: true });
  await run('tar', ['czf', tarball, '-C', sqliteDir, 'build/Release/better_sqlite3.node']);
  let count = 0;
  const server = createServer((req, res) => {
    if (req.url !== `/v${version}/${name}`) {
      res.writeHead(404).end();
      return;
    }
    count += 1;
    res.writeHead(200, { 'content-type': 'application/gzip' });
    createReadStream(tarball)
      .on('error', () => res.destroy())
      .pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    env: { npm_config_better_sqlite3_binary_host: `http://127.0.0.1:${port}` },
    downloads: () => count,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
