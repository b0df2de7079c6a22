// Builds dist/action and dist/cli with ncc. dist/ is committed; CI rebuilds it and fails if it differs.
// Each bundle is built beside its folder and swapped in, so dist/ is never missing while a build runs.
import ncc from '@vercel/ncc';
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * index.js loads the bundle with Node's compile cache on (Node 22.1+; a no-op before): compiling the bundle is a
 * large part of the tool's start-up, and a runner that keeps its temp directory skips it from the second run on.
 */
const LOADER = `// Loads bundle.js with Node's compile cache on (in the OS temp directory): later runs skip compiling it.
import module from 'node:module';
module.enableCompileCache?.();
await import('./bundle.js');
`;

/**
 * @actions/core imports @actions/http-client (with undici) for getIDToken() and @actions/exec for
 * platform.getDetails(); the action calls neither (test/unit/bundle.test.ts checks), and without them the bundle
 * is 1 MB smaller and every run starts ~20 ms sooner. Their imports point at this file instead.
 */
const LEFT_OUT = ['@actions/http-client', '@actions/http-client/lib/auth', '@actions/exec'];
const STAND_IN = 'left-out.js';
const STAND_IN_SOURCE = `// Stands in for ${LEFT_OUT.join(', ')}: @actions/core imports them for getIDToken() and
// platform.getDetails(), which bluegreen-action never calls (scripts/bundle.mjs). Calling either fails.
export {};
`;

async function build(entry, out, { leaveOut }) {
  const building = `${out}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  const externals = leaveOut ? Object.fromEntries(LEFT_OUT.map((name) => [name, `./${STAND_IN}`])) : {};
  const { code, assets } = await ncc(path.resolve(entry), { externals, license: 'licenses.txt', quiet: true });
  mkdirSync(building, { recursive: true });
  for (const [name, asset] of Object.entries(assets)) writeFileSync(path.join(building, name), asset.source);
  const shebang = code.startsWith('#!') ? `${code.slice(0, code.indexOf('\n') + 1)}` : '';
  writeFileSync(path.join(building, 'bundle.js'), code.slice(shebang.length));
  writeFileSync(path.join(building, 'index.js'), `${shebang}${LOADER}`);
  if (leaveOut) writeFileSync(path.join(building, STAND_IN), STAND_IN_SOURCE);
  rmSync(out, { recursive: true, force: true });
  renameSync(building, out);
}

await build('src/action/index.ts', 'dist/action', { leaveOut: true });
await build('src/cli/index.ts', 'dist/cli', { leaveOut: false });
chmodSync('dist/cli/index.js', 0o755);
