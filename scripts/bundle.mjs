// Builds dist/action and dist/cli with ncc. dist/ is committed; CI rebuilds it and fails if it differs.
// Each bundle is built beside its folder and swapped in, so dist/ is never missing while a build runs.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

/**
 * index.js loads the bundle with Node's compile cache on (Node 22.1+; a no-op before): compiling the 2 MB bundle
 * is a third of the tool's start-up, and a runner that keeps its temp directory skips it from the second run on.
 */
const LOADER = `// Loads bundle.js with Node's compile cache on (in the OS temp directory): later runs skip compiling it.
import module from 'node:module';
module.enableCompileCache?.();
await import('./bundle.js');
`;

const ncc = 'node_modules/@vercel/ncc/dist/ncc/cli.js';
for (const [entry, out] of [
  ['src/action/index.ts', 'dist/action'],
  ['src/cli/index.ts', 'dist/cli'],
]) {
  const building = `${out}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  execFileSync(process.execPath, [ncc, 'build', entry, '-o', building, '--license', 'licenses.txt', '--quiet'], {
    stdio: 'inherit',
  });
  const bundle = readFileSync(`${building}/index.js`, 'utf8');
  const shebang = bundle.startsWith('#!') ? `${bundle.slice(0, bundle.indexOf('\n') + 1)}` : '';
  writeFileSync(`${building}/bundle.js`, bundle.slice(shebang.length));
  writeFileSync(`${building}/index.js`, `${shebang}${LOADER}`);
  rmSync(out, { recursive: true, force: true });
  renameSync(building, out);
}
chmodSync('dist/cli/index.js', 0o755);
