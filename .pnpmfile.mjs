// What `pnpm pack` / `pnpm publish` (and so `pnpm changeset publish`) put in a tarball's
// package.json: the workspace manifest minus what only the workspace uses.
export const hooks = {
  beforePacking(pkg) {
    delete pkg.devDependencies;
    const postinstall = pkg.scripts?.postinstall;
    delete pkg.scripts;
    // kept: a postinstall that runs a file the package ships under install/ with node alone
    // (@berth/cli's names node on berth's #! line); tooling/release checks which ones
    if (typeof postinstall === 'string' && /^node install\/[\w-]+\.cjs$/.test(postinstall)) pkg.scripts = { postinstall };
    if (pkg.exports) pkg.exports = withoutSource(pkg.exports);
    return pkg;
  },
};

// The `source` condition points tests and the bundlers inside the workspace at src/,
// which is not shipped.
function withoutSource(value) {
  if (typeof value !== 'object' || value === null) return value;
  const out = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'source') continue;
    const kept = withoutSource(inner);
    if (typeof kept === 'object' && kept !== null && Object.keys(kept).length === 0) continue;
    out[key] = kept;
  }
  return out;
}
