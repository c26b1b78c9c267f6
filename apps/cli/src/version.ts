import { version } from '../package.json';
/** The CLI's own version: package.json's, so `changeset version` sets it. */
export const BERTH_VERSION: string = version;
/** The short commit the bundle was built from; tsup defines it, `dev` when run from source. */
export const BERTH_BUILD: string = typeof __BERTH_BUILD__ === 'string' ? __BERTH_BUILD__ : 'dev';

declare const __BERTH_BUILD__: string | undefined;
