// Run by crash.test.ts in a child process that the test kills with SIGKILL mid-way.
import { Readable } from 'node:stream';
import type { Digest } from '@berth/image-format';
import { FileContentStore } from '../src/content/file-store.js';
import { unpackLayer } from '../src/layer/unpack.js';
import { unpackLayersConcurrently } from '../src/layer/unpack-chain.js';
import { OverlaySnapshotter } from '../src/snapshot/overlay.js';
import { patternChunk } from './crash-data.js';

const [mode, root, ...args] = process.argv.slice(2);
const store = await FileContentStore.open(root!);

if (mode === 'ingest') {
  const [ref, digest, size] = args as [string, Digest, string];
  const total = Number(size);
  let off = 0;
  // A slow source: a download that the kill interrupts.
  const src = new Readable({
    read() {
      if (off >= total) return void this.push(null);
      const n = Math.min(256 * 1024, total - off);
      const chunk = patternChunk(off, n);
      off += n;
      setTimeout(() => {
        this.push(chunk);
        process.stdout.write(`progress ${off}\n`);
      }, 20);
    },
  });
  await store.ingest(ref, { digest, size: total }, src);
  process.stdout.write('done\n');
} else if (mode === 'apply') {
  const [digest, size, mediaType] = args as [Digest, string, string];
  const sn = await OverlaySnapshotter.open(root!);
  process.stdout.write('applying\n');
  await unpackLayer(store, sn, { digest, size: Number(size), mediaType }, undefined);
  process.stdout.write('done\n');
}
else if (mode === 'chain') {
  // Several layers applied at once into detached snapshots; args: digest,size,mediaType triples.
  const layers = [];
  for (let i = 0; i + 2 < args.length; i += 3) layers.push({ digest: args[i] as Digest, size: Number(args[i + 1]), mediaType: args[i + 2]! });
  const sn = await OverlaySnapshotter.open(root!);
  process.stdout.write('applying\n');
  await unpackLayersConcurrently(store, sn, layers, { concurrency: 4, onLayerDone: (i) => process.stdout.write(`committed ${i}\n`) });
  process.stdout.write('done\n');
}
