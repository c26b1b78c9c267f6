import { version } from '../package.json';
/** Berth's own version, shown as the server version (`docker version`): package.json's, so `changeset version` sets it. */
export const BERTH_VERSION: string = version;
/** The `Server` header on every response. */
export const SERVER_HEADER = `Berth/${BERTH_VERSION} (linux)`;
