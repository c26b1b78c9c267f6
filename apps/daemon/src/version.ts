/** Berth's own version, shown as the server version (`docker version`). */
export const BERTH_VERSION = '0.1.0';
/** The `Server` header on every response. */
export const SERVER_HEADER = `Berth/${BERTH_VERSION} (linux)`;
