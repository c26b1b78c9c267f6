/** The CLI's own version (kept in step with package.json by the release). */
export const BERTH_VERSION = '0.1.0';
/** The short commit the bundle was built from; tsup defines it, `dev` when run from source. */
export const BERTH_BUILD: string = typeof __BERTH_BUILD__ === 'string' ? __BERTH_BUILD__ : 'dev';

declare const __BERTH_BUILD__: string | undefined;
