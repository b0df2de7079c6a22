// Two deploys whose proxy sets overlap: two apps, each with its own proxy, and one edge Nginx that serves both (one
// include and one server block each). Started at once, one waits for the other's lock on the shared edge, and
// their switches never interleave.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from './support/action.js';
import {
  cliFlags,
  createNamedAppStack,
  createSharedEdge,
  expectServes,
  phaseSpans,
  startCli,
  type NamedAppStack,
  type SharedEdge,
} from './support/scenarios.js';

describe('two deploys sharing one edge proxy', () => {
  let apps: NamedAppStack[] = [];
  let edge: SharedEdge | undefined;

  /** The app's own proxy and its include in the shared edge, each checked through itself with X-Color. */
  function inputs(i: number): Record<string, string> {
    const app = apps[i]!;
    const inc = edge!.includes[i]!;
    const { 'nginx-container': _c, 'upstream-file': _f, 'upstream-template': _t, ...rest } = app.inputs;
    return {
      ...rest,
      'color-header': 'X-Color',
      'nginx-targets': [
        `- container: ${app.proxyContainer}`,
        '  file: nginx/service-url.inc',
        "  template: 'upstream app {\\n    server app-{color}:8000;\\n}\\n'",
        `- container: ${edge!.container}`,
        `  file: ${edge!.dir}/${inc.file}`,
        // The edge listens on one port per app: the action checks the server block that passes to this upstream.
        `  template: 'upstream ${inc.upstream} {\\n    server ${app.name}-app-{color}:8000;\\n}\\n'`,
      ].join('\n'),
    };
  }

  beforeAll(async () => {
    apps = [await createNamedAppStack(), await createNamedAppStack()];
    for (const app of apps) {
      const first = await runAction(app.inputs, { cwd: app.dir });
      expect(first.exitCode, first.stdout).toBe(0);
      await expectServes(app.proxyUrl, 'blue', 1);
    }
    // The edge joins both apps' networks (created by their first deploys).
    edge = await createSharedEdge(apps.map((a) => ({ network: a.network })));
  });
  afterAll(async () => {
    await edge?.cleanup();
    for (const app of apps) await app.cleanup();
  });

  it('started at once: one waits for the other, both deploy green, their switches do not overlap', async () => {
    const runs = apps.map((app, i) => startCli(['deploy', '--json', ...cliFlags(inputs(i))], app.dir));
    const done = await Promise.all(runs.map((r) => r.done));
    done.forEach((r, i) => {
      expect(r.exitCode, `deploy ${i}:\n${r.stderr}`).toBe(0);
      const result = JSON.parse(r.stdout);
      expect(result).toMatchObject({ status: 'deployed', color: 'green', previousColor: 'blue' });
      // Each deploy checked the edge on the port of its own server block, found from the edge's Nginx config.
      const checked = result.proxies.find((p: { container: string }) => p.container === edge!.container);
      expect(checked).toMatchObject({
        checkedAt: `${edge!.urls[i]}/health`,
        verified: 'HTTP 200 from green (X-Color)',
      });
    });
    const waited = runs.map((r) => r.lines.some((l) => /Waiting for another deploy/.test(l.text)));
    console.log(`waited: ${waited.join(', ')}`);
    expect(waited.filter(Boolean)).toHaveLength(1);
    const waiter = waited.indexOf(true);
    expect(runs[waiter]!.lines.find((l) => /Waiting for another deploy/.test(l.text))?.text).toContain(
      `lock proxy:${edge!.container}`,
    );

    const spans = runs.map((r, i) => phaseSpans(r, done[i]!.exitedAt).get('switch'));
    expect(spans[0], runs[0]!.lines.map((l) => l.text).join('\n')).toBeDefined();
    expect(spans[1], runs[1]!.lines.map((l) => l.text).join('\n')).toBeDefined();
    const [a, b] = spans as { start: number; end: number }[];
    const t0 = Math.min(a!.start, b!.start);
    console.log(
      `switch phases (ms from the first): deploy 0 ${a!.start - t0}..${a!.end - t0}, deploy 1 ${b!.start - t0}..${b!.end - t0}`,
    );
    expect(a!.end <= b!.start || b!.end <= a!.start, 'the switch phases overlap').toBe(true);
    // The one that waited switched second.
    const other = 1 - waiter;
    expect(spans[waiter]!.start).toBeGreaterThanOrEqual(spans[other]!.end);

    for (const [i, app] of apps.entries()) {
      await expectServes(app.proxyUrl, 'green');
      await expectServes(edge!.urls[i]!, 'green');
    }
  });
});
