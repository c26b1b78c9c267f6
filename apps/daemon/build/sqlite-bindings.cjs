// Stands in for the `bindings` package inside the berthd bundle (tsup.config.ts aliases it):
// better-sqlite3 asks it for its native addon, which the build copies next to the bundle
// (dist/native/), so an installed berthd needs no compiler and runs no install script.
// `require` here is the bundle's own (its banner makes one from import.meta.url), so
// relative paths are relative to dist/.
'use strict';

/** The first line of a loader error (dlopen's reason), without the stack. */
const reason = (err) => String(err && err.message).split('\n')[0];

module.exports = function bindings(name) {
  const base = name.replace(/\.node$/, '');
  const tag = `${process.platform}-${process.arch}-${process.versions.modules}`;
  // Present for this platform and Node, yet not loadable: a musl libc, a glibc or libstdc++
  // older than the build machine's. The user's own build may still serve.
  let shippedFailed;
  try {
    const shippedPath = `./native/${base}-${tag}.node`;
    return require(shippedPath);
  } catch (shipped) {
    if (shipped.code !== 'MODULE_NOT_FOUND') shippedFailed = shipped;
  }
  let ownFailed;
  try {
    // one the user built for this system (npm i -g better-sqlite3@<same version>)
    const ownPath = `better-sqlite3/build/Release/${base}.node`;
    return require(ownPath);
  } catch (own) {
    if (own.code !== 'MODULE_NOT_FOUND') ownFailed = own;
  }
  const here = `Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}`;
  const err = new Error(
    `the SQLite addon in this bundle is for Node 20 (ABI ${__BERTH_SQLITE_SHIPPED__.split('-')[2]}) on ` +
      `${__BERTH_SQLITE_SHIPPED__.split('-').slice(0, 2).join('-')} with ${__BERTH_SQLITE_LIBC__}; ` +
      (shippedFailed ? `it does not load on this system (${reason(shippedFailed)})` : `this is ${here}`) +
      (ownFailed ? `, and the better-sqlite3 built here does not load either (${reason(ownFailed)})` : '') +
      `. Build the addon for this system: apt-get install build-essential python3 && npm i -g better-sqlite3@${__BERTH_SQLITE_VERSION__}`,
  );
  err.code = 'BERTH_SQLITE_ADDON';
  throw err;
};
