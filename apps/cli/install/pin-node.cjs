// @berth/cli's postinstall: names node on dist/berth.js's first line, as an absolute path,
// instead of `#!/usr/bin/env node`. Every `berth` command pays env's exec and its PATH
// search before node starts (1-5 ms, a good part of `berth --version`); the kernel runs the
// named node directly. The path is the one /usr/bin/env finds now (the first `node` on
// PATH, not resolved: /usr/bin/node, Homebrew's /opt/homebrew/bin/node, an nvm version's
// bin/node), and only when it is the very node running this install, so a version
// manager's shim (volta, asdf: a shim may be a script, which macOS refuses on a #! line)
// keeps env. Nothing here may fail an install: whatever does not fit leaves the line as it
// was, and `npm i --ignore-scripts` (or a package manager that runs no scripts) simply
// keeps env. Plain CommonJS, no build: it also runs in the workspace, where it does nothing.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ENV_LINE = '#!/usr/bin/env node\n';
/** A line this script wrote: an absolute path to a file named node. */
const PINNED = /^#!\/[^\s]*\/node\n/;
// Linux reads 255 bytes of a #! line (127 before 5.1), macOS 511: stay well inside
const MAX_LINE = 120;

/** The first executable `node` on `pathVar`, as env would find it; undefined if none. */
function nodeOnPath(pathVar) {
  for (const dir of (pathVar || '').split(path.delimiter)) {
    if (!path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, 'node');
    try {
      if (!fs.statSync(candidate).isFile()) continue;
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The node path for `pkgDir`'s launcher, or why it keeps env. `execPath` is the node
 * running the install; `pathVar` the PATH env would search.
 */
function pinnedNode(pkgDir, execPath, pathVar) {
  // the workspace's own package (sources beside dist): its dist is rebuilt, not installed
  if (fs.existsSync(path.join(pkgDir, 'src'))) return { skip: 'workspace' };
  const node = nodeOnPath(pathVar);
  if (!node) return { skip: 'no node on PATH' };
  try {
    if (fs.realpathSync(node) !== fs.realpathSync(execPath)) return { skip: `${node} is not the node installing` };
  } catch {
    return { skip: 'unresolvable node' };
  }
  if (/\s/.test(node) || `#!${node}\n`.length > MAX_LINE) return { skip: 'path unfit for a #! line' };
  return { node };
}

/**
 * Rewrites `pkgDir`/dist/berth.js's first line: the node to name, or env again where none
 * fits now (`npm rebuild` after node moved mends a line that names a node no longer
 * there). Returns the line written, or undefined when nothing changed.
 */
function pin(pkgDir, execPath, pathVar) {
  const launcher = path.join(pkgDir, 'dist', 'berth.js');
  const choice = pinnedNode(pkgDir, execPath, pathVar);
  if (choice.skip === 'workspace') return undefined;
  const line = choice.node ? `#!${choice.node}\n` : ENV_LINE;
  const tmp = `${launcher}.${process.pid}.tmp`;
  try {
    const text = fs.readFileSync(launcher, 'utf8');
    // env's line as built, or one an earlier install wrote; anything else is not ours
    const first = text.startsWith(ENV_LINE) ? ENV_LINE : PINNED.exec(text)?.[0];
    if (!first || first === line) return undefined;
    const { mode } = fs.statSync(launcher);
    fs.writeFileSync(tmp, `${line}${text.slice(first.length)}`, { mode });
    fs.chmodSync(tmp, mode);
    // a rename: a `berth` running now reads either whole file
    fs.renameSync(tmp, launcher);
    return line.slice(0, -1);
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing to remove
    }
    return undefined;
  }
}

module.exports = { pin, pinnedNode, nodeOnPath };

if (require.main === module) {
  try {
    pin(path.join(__dirname, '..'), process.execPath, process.env.PATH);
  } catch {
    // never fail the install
  }
}
