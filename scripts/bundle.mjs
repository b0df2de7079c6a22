// Builds dist/action and dist/cli with ncc. dist/ is committed; CI rebuilds it and fails if it differs.
import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';

const ncc = 'node_modules/@vercel/ncc/dist/ncc/cli.js';
for (const [entry, out] of [
  ['src/action/index.ts', 'dist/action'],
  ['src/cli/index.ts', 'dist/cli'],
]) {
  rmSync(out, { recursive: true, force: true });
  execFileSync(process.execPath, [ncc, 'build', entry, '-o', out, '--license', 'licenses.txt', '--quiet'], {
    stdio: 'inherit',
  });
}
chmodSync('dist/cli/index.js', 0o755);
