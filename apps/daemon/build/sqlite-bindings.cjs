// Stands in for the `bindings` package inside the berthd bundle (tsup.config.ts aliases it):
// better-sqlite3 asks it for its native addon, which the build copies next to the bundle
// (dist/native/), so an installed berthd needs no compiler and runs no install script.
// `require` here is the bundle's own (its banner makes one from import.meta.url), so
// relative paths are relative to dist/.
'use strict';

module.exports = function bindings(name) {
  const base = name.replace(/\.node$/, '');
  const tag = `${process.platform}-${process.arch}-${process.versions.modules}`;
  try {
    const shippedPath = `./native/${base}-${tag}.node`;
    return require(shippedPath);
  } catch (shipped) {
    if (shipped.code !== 'MODULE_NOT_FOUND') throw shipped;
    try {
      // one the user built for another Node (npm i -g better-sqlite3@<same version>)
      const ownPath = `better-sqlite3/build/Release/${base}.node`;
      return require(ownPath);
    } catch {
      const err = new Error(
        `berthd ships SQLite's native addon for ${__BERTH_SQLITE_SHIPPED__} only; this is Node ${process.version} on ${process.platform}-${process.arch} ` +
          `(ABI ${process.versions.modules}). Use Node 20 on Linux x64 (glibc), or build the addon: ` +
          `apt-get install build-essential python3 && npm i -g better-sqlite3@${__BERTH_SQLITE_VERSION__}`,
      );
      err.code = 'BERTH_SQLITE_ADDON';
      throw err;
    }
  }
};
