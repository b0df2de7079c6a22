// Builds dist/action and dist/cli with ncc. dist/ is committed; CI rebuilds it and fails if it differs.
// Each bundle is built beside its folder and swapped in, so dist/ is never missing while a build runs.
import { execFileSync } from 'node:child_process';
import { chmodSync, renameSync, rmSync } from 'node:fs';

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
  rmSync(out, { recursive: true, force: true });
  renameSync(building, out);
}
chmodSync('dist/cli/index.js', 0o755);
