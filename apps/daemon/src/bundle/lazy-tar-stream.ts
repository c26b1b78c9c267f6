/**
 * Stands in for `tar-stream` in the berthd bundle (tsup.config.ts aliases it): with streamx
 * and its helpers it costs ~2 MB at start, and berthd needs it only for layers, save/load,
 * import/export, commit and archive copies. Loaded on the first `extract()`/`pack()`.
 * Only what the bundled packages use is forwarded (checked by test/bundle.test.ts).
 */
import { createRequire } from 'node:module';
import type * as TarStream from 'tar-stream';

let real: typeof TarStream | undefined;
const load = (): typeof TarStream => (real ??= createRequire(import.meta.url)('tar-stream') as typeof TarStream);

export const extract: typeof TarStream.extract = (...args) => load().extract(...args);
export const pack: typeof TarStream.pack = (...args) => load().pack(...args);
export default { extract, pack };
