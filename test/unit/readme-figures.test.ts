// scripts/readme-figures.mjs: the README's benchmark figures are what bench/results/**/latest.json gives, and only
// that. Fails when someone edits a figure by hand, or re-runs the bench without `npm run readme:figures`.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { blockText, lineDiff, README, readmeWithFigures, RESULTS } from '../../scripts/readme-figures.mjs';

interface Summary {
  median: number | null;
  min: number | null;
  max: number | null;
}
interface Results {
  bench?: { format: number; commit?: string; dirty?: boolean };
  machine: { compose: unknown; composeCommand?: string };
  tools: { action: { summary: Record<string, Summary> } };
}

const readme = readFileSync(README, 'utf8');
const block = (text: string, name: string) =>
  new RegExp(`<!-- bench:${name}:begin -->\\n([\\s\\S]*?)<!-- bench:${name}:end -->`).exec(text)?.[1];

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of bench/results (without the raw runs, which git ignores) to change. */
function copyResults(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'readme-figures-'));
  temps.push(dir);
  cpSync(RESULTS, dir, { recursive: true, filter: (src) => path.relative(RESULTS, src) !== 'runs' });
  return dir;
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Results;

interface ReloadResults {
  scenarios: {
    reload: {
      summary: {
        fresh: { failed: number; byError: Record<string, number>; failedPerEvent: Summary };
      };
    };
  };
}

describe("the README's benchmark figures", () => {
  it('are what the committed bench/results/**/latest.json gives (run `npm run readme:figures`)', () => {
    expect(lineDiff(readme, readmeWithFigures(readme, RESULTS))).toEqual([]);
  });

  it('have a block for the main run and each variant, every one with its table and chart', () => {
    for (const name of ['main', 'docker-healthcheck', 'exit-on-sigterm', 'compose-v1']) {
      expect(block(readme, name), `no block bench:${name}`).toBeDefined();
    }
    for (const name of ['main', 'docker-healthcheck', 'exit-on-sigterm']) {
      const text = block(readme, name) ?? '';
      expect(text).toMatch(/^\| figure \(median \[min–max\] over the swaps\) \|/m);
      expect(text).toContain('](bench/results/');
    }
  });

  it('change when a figure in the JSON changes, in that block only', () => {
    const dir = copyResults();
    const file = path.join(dir, 'latest.json');
    const results = readJson(file);
    results.tools.action.summary.readyToSwitchMs = { median: 123, min: 101, max: 150 };
    writeFileSync(file, JSON.stringify(results));
    const next = readmeWithFigures(readme, dir);
    expect(next).not.toBe(readme);
    expect(block(next, 'main')).toContain('| ready → first new-color response | 0.12 s [0.10–0.15] |');
    expect(block(next, 'main')).toContain('Ready → first new-color response (median): 0.12 s for this project');
    expect(block(next, 'main')).not.toBe(block(readme, 'main'));
    for (const name of ['docker-healthcheck', 'exit-on-sigterm', 'compose-v1', 'reload-floor']) {
      expect(block(next, name)).toBe(block(readme, name));
    }
  });

  it('put back a figure edited by hand', () => {
    const main = block(readme, 'main') ?? '';
    const row = main.split('\n').find((l) => l.startsWith('| deploy wall time |'));
    expect(row).toBeDefined();
    const edited = readme.replace(row!, '| deploy wall time | 1.00 s [1.00–1.00] | 9.00 s [9.00–9.00] | 0.11× |');
    expect(edited).not.toBe(readme);
    expect(readmeWithFigures(edited, RESULTS)).toBe(readme);
    expect(lineDiff(edited, readme)).toEqual([
      expect.stringMatching(/^- \| deploy wall time \| 1\.00 s/),
      expect.stringMatching(/^\+ \| deploy wall time \|/),
    ]);
  });

  it('name the Compose of each tool in the new format, and "–" with the benchmark that made an older run', () => {
    // A run of format 1 (before issue 12), as the committed 2026-11-26 runs are: no bench, the baseline's Compose
    // alone, none of the figures beside the drain.
    const old: Results = structuredClone(readJson(path.join(RESULTS, 'latest.json')));
    delete old.bench;
    delete old.machine.composeCommand;
    old.machine.compose = '1.29.2';
    for (const tool of Object.values(old.tools)) {
      for (const key of ['inFlightAfterSwitchMs', 'appStartupMs', 'ownOverheadMs']) delete tool.summary[key];
    }
    const oldText = blockText('main', old);
    expect(oldText).toContain('Compose: action –, baseline docker-compose');
    expect(oldText).toContain('benchmark format 1');
    expect(oldText).toMatch(/^\| ↳ beside it: longest request in flight at the switch, after the switch \| – \| – \|/m);

    const now: Results = structuredClone(old);
    now.bench = { format: 2, commit: 'abc1234', dirty: false };
    now.machine.compose = { action: '2.26.1', baseline: '2.26.1' };
    now.machine.composeCommand = 'docker compose';
    now.tools.action.summary.inFlightAfterSwitchMs = { median: 1900, min: 1800, max: 1990 };
    const text = blockText('main', now);
    expect(text).toContain('Compose: action docker compose 2.26.1, baseline docker compose 2.26.1');
    expect(text).toContain('benchmark format 2 at commit abc1234');
    expect(text).toContain('longest request in flight at the switch lasted 1.90 s after the switch');
    expect(text).not.toContain('not recorded');
  });

  it('fill a variant block once its results exist, and refuse results with no block', () => {
    const dir = copyResults();
    rmSync(path.join(dir, 'compose-v1'), { recursive: true, force: true });
    const before = readmeWithFigures(readme, dir);
    expect(block(before, 'compose-v1')).toContain('No run with Compose v1 yet');
    mkdirSync(path.join(dir, 'compose-v1'));
    cpSync(path.join(dir, 'latest.json'), path.join(dir, 'compose-v1/latest.json'));
    const next = readmeWithFigures(before, dir);
    expect(block(next, 'compose-v1')).toContain('from bench/results/compose-v1/latest.json');
    expect(block(next, 'compose-v1')).toContain('](bench/results/compose-v1/swap.svg)');

    const without = readme.replace(/<!-- bench:compose-v1:begin -->[\s\S]*?<!-- bench:compose-v1:end -->\n/, '');
    expect(() => readmeWithFigures(without, dir)).toThrow(/compose-v1\/latest\.json has no block in the README/);
  });

  it("have the reload floor's block, made from bench:reload's results: its table, both reload kinds and the no-reload switches", () => {
    const text = block(readme, 'reload-floor') ?? '';
    expect(text).toContain('from bench/results/reload-floor/latest.json');
    expect(text).toMatch(
      /^\| figure \(median \[min–max\] over the events\) \| no reload \(baseline\) \| bare `nginx -s reload` \|/m,
    );
    expect(text).toMatch(/^\| \*\*failed fresh-connection requests per event\*\* \|/m);
    expect(text).toContain('- The reload floor: ');
    expect(text).toContain('- Swaps by the action: ');
  });

  it("change the reload floor's block when its JSON changes, and that block only", () => {
    const dir = copyResults();
    const file = path.join(dir, 'reload-floor/latest.json');
    const results = JSON.parse(readFileSync(file, 'utf8')) as ReloadResults;
    const reload = results.scenarios.reload.summary.fresh;
    reload.failed = 18;
    reload.byError = { ECONNRESET: 18 };
    reload.failedPerEvent = { median: 1.5, min: 0, max: 4 };
    writeFileSync(file, JSON.stringify(results));
    const next = readmeWithFigures(readme, dir);
    const text = block(next, 'reload-floor') ?? '';
    expect(text).not.toBe(block(readme, 'reload-floor'));
    expect(text).toMatch(
      /^\| \*\*failed fresh-connection requests per event\*\* \| \*\*[^|]+\*\* \| \*\*1\.5 \[0–4\]\*\* \|/m,
    );
    expect(text).toMatch(/^\| ↳ in all, by error \| [^|]+ \| 18 \(ECONNRESET 18\) \|/m);
    expect(text).toContain('- The reload floor: 18 failed fresh-connection requests over 12 bare reloads');
    for (const name of ['main', 'docker-healthcheck', 'exit-on-sigterm', 'compose-v1']) {
      expect(block(next, name)).toBe(block(readme, name));
    }
  });

  it('show a placeholder for the reload floor until bench:reload has run, and refuse a JSON that is not its', () => {
    const dir = copyResults();
    rmSync(path.join(dir, 'reload-floor'), { recursive: true });
    const next = readmeWithFigures(readme, dir);
    expect(block(next, 'reload-floor')).toContain('No run of the reload floor yet: `npm run bench:reload`');
    expect(next.replace(/<!-- bench:reload-floor:begin -->[\s\S]*?<!-- bench:reload-floor:end -->/, '')).toBe(
      readme.replace(/<!-- bench:reload-floor:begin -->[\s\S]*?<!-- bench:reload-floor:end -->/, ''),
    );

    mkdirSync(path.join(dir, 'reload-floor'));
    cpSync(path.join(dir, 'latest.json'), path.join(dir, 'reload-floor/latest.json'));
    expect(() => readmeWithFigures(readme, dir)).toThrow(/reload-floor\/latest\.json is not bench:reload's results/);
  });
});
