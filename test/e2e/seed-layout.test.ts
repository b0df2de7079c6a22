// The seed's layout: docker-compose.yml (ts-proxy, ts-postgres on a named network), docker-compose-<color>.yml,
// health path /api/v1/test, and a second proxy of its own project whose include lives only in its container.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from './support/action.js';
import { docker } from './support/docker.js';
import { get } from './support/http.js';
import { createSeedStack, serviceContainerId } from './support/stack.js';

type SeedStack = Awaited<ReturnType<typeof createSeedStack>>;

describe('the seed layout: two proxies, one of them written with docker cp', () => {
  let stack: SeedStack;
  let shared: { proxy: string; db: string; edge: string };

  beforeAll(async () => {
    stack = await createSeedStack();
    await stack.startShared();
    shared = {
      proxy: await serviceContainerId(stack, 'ts-proxy'),
      db: await serviceContainerId(stack, 'ts-postgres'),
      edge: (await docker(['container', 'inspect', '--format', '{{.Id}}', stack.edgeContainer])).stdout.trim(),
    };
    expect(shared.proxy).not.toBe('');
    expect(shared.db).not.toBe('');
    // Before the first deploy both proxies point at the placeholder.
    expect((await get(`${stack.proxyUrl}/`)).status).toBe(502);
    expect((await get(`${stack.edgeUrl}/`)).status).toBe(502);
  });
  afterAll(async () => stack?.cleanup());

  const deploys: Array<{ color: 'blue' | 'green'; previous: '' | 'blue' | 'green' }> = [
    { color: 'blue', previous: '' },
    { color: 'green', previous: 'blue' },
    { color: 'blue', previous: 'green' },
  ];

  for (const [i, { color, previous }] of deploys.entries()) {
    it(`deploy ${i + 1}: ${previous ? `${previous} to ${color}` : `first deploy, ${color}`}; both proxies serve ${color}`, async () => {
      const port = stack.ports[color];
      const started = Date.now();
      const run = await runAction(stack.inputs, { cwd: stack.dir });
      console.log(`seed deploy ${i + 1} (${color}) took ${((Date.now() - started) / 1000).toFixed(1)} s`);
      expect(run.exitCode, run.stdout).toBe(0);
      expect(run.outputs).toMatchObject({
        status: 'deployed',
        color,
        port: String(port),
        'previous-color': previous,
        'previous-port': previous ? String(stack.ports[previous]) : '',
        'rolled-back': 'false',
      });

      // Both proxies serve the new color.
      for (const url of [stack.proxyUrl, stack.edgeUrl]) {
        const answer = await get(`${url}/`);
        expect(answer.status, url).toBe(200);
        expect(answer.color, url).toBe(color);
      }
      const container = `${stack.name}-dev-${color}`;

      // The edge proxy's include exists only inside its container.
      const edgeInclude = await docker([
        'exec',
        stack.edgeContainer,
        'cat',
        '/etc/nginx/conf.d/test-backend/service-url.inc',
      ]);
      expect(edgeInclude.stdout).toContain(`set $service_url http://${container}:${port};`);
      // The seed proxy's include is the mounted file on disk.
      const mounted = await fs.readFile(path.join(stack.dir, 'nginx/service-url.inc'), 'utf8');
      expect(mounted).toContain('upstream app {');
      expect(mounted).toMatch(new RegExp(`server ${container}:${port};`));

      // Only the new color runs; the shared services and the edge proxy are the same containers.
      const other = color === 'blue' ? 'green' : 'blue';
      expect((await docker(['container', 'inspect', '--format', '{{.State.Running}}', container])).stdout.trim()).toBe(
        'true',
      );
      const old = await docker(
        ['container', 'inspect', '--format', '{{.State.Running}}', `${stack.name}-dev-${other}`],
        {
          reject: false,
        },
      );
      if (previous) expect(old.stdout.trim()).toBe('false');
      else expect(old.exitCode).not.toBe(0);
      expect(await serviceContainerId(stack, 'ts-proxy')).toBe(shared.proxy);
      expect(await serviceContainerId(stack, 'ts-postgres')).toBe(shared.db);
      expect((await docker(['container', 'inspect', '--format', '{{.Id}}', stack.edgeContainer])).stdout.trim()).toBe(
        shared.edge,
      );
    });
  }
});
