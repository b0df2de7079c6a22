// The action's bundle leaves out @actions/core's OIDC client and platform probe (scripts/bundle.mjs): the action
// must never call them, and the bundle must still load and run.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(path.join(dir, entry.name)) : [path.join(dir, entry.name)],
  );
}

describe('the action bundle', () => {
  it('never calls what it leaves out of @actions/core (getIDToken, platform)', () => {
    const offending = sources('src').filter((file) =>
      /\bgetIDToken\b|\bplatform\.getDetails\b|core\.platform\b/.test(read(file)),
    );
    expect(offending).toEqual([]);
  });

  it('imports only Node built-ins and its stand-in for the left-out packages', () => {
    const bundle = read('dist/action/bundle.js');
    const imported = [...bundle.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(imported.filter((name) => !isBuiltin(name))).toEqual(['./left-out.js']);
    expect(read('dist/action/left-out.js')).toContain('export {};');
    expect(bundle).not.toMatch(/undici|node_modules\/@actions\/(http-client|exec)\//);
    expect(bundle).toMatch(/node_modules\/@actions\/core\/lib\/core\.js/);
  });

  it('runs: a bad input fails as an input error (exit 2), not at load', () => {
    const env = { ...process.env, INPUT_COMMAND: 'bogus', GITHUB_OUTPUT: '', GITHUB_STEP_SUMMARY: '' };
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/action/index.js')], { env, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^::error::.*command/m);
    expect(r.status).toBe(2);
  });
});
