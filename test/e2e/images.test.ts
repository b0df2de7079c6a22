// Smoke test of the offline test infrastructure: the FROM-scratch images, a
// compose project with Nginx in front of one app container, and the helpers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestImages } from '../../scripts/images.mjs';
import { compose, docker, waitFor } from './support/docker.js';
import { get } from './support/http.js';
import { slowRequests, startLoad } from './support/load.js';
import { createProject, freePort, type TempProject } from './support/project.js';

const SETUP_TIMEOUT_MS = 240_000; // a cold image build plus `compose up`

// Nginx's own counters: accepted connections and requests served.
async function nginxStatus(base: string): Promise<{ accepts: number; requests: number }> {
  const { body } = await get(`${base}/nginx_status`);
  const m = /\s(\d+)\s+(\d+)\s+(\d+)\s/.exec(body);
  if (!m) throw new Error(`unexpected stub_status output: ${body}`);
  return { accepts: Number(m[1]), requests: Number(m[3]) };
}

describe('test images + compose project', () => {
  let project: TempProject | undefined;
  let base = '';

  beforeAll(async () => {
    const images = await ensureTestImages({ log: (message) => console.log(message) });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    project = await createProject({
      'docker-compose.yml': `
services:
  proxy:
    image: ${images.nginx}
    ports: ["127.0.0.1:${port}:80"]
    volumes: ["./conf.d:/etc/nginx/conf.d:ro"]
    depends_on:
      app-blue: { condition: service_healthy }
  app-blue:
    image: ${images.app}
    environment: { COLOR: blue }
`,
      'conf.d/service-url.inc': 'upstream app { server app-blue:8000; }\n',
      'conf.d/default.conf': `include /etc/nginx/conf.d/service-url.inc;
server {
    listen 80;
    location = /nginx_status { stub_status; }
    location / { proxy_pass http://app; }
}
`,
    });
    await compose(project.dir, ['up', '-d'], { projectName: project.name });
    await waitFor(async () => (await get(`${base}/`)).status === 200, 30_000, { description: 'the proxy' });
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await project?.cleanup();
  }, 60_000);

  it('proxies to the blue app', async () => {
    const res = await get(`${base}/hello`);
    expect(res.status).toBe(200);
    expect(res.color).toBe('blue');
    expect(JSON.parse(res.body)).toEqual({ color: 'blue', version: '1', path: '/hello' });
  });

  it('answers the health path', async () => {
    expect((await get(`${base}/health`)).status).toBe(200);
  });

  it('serves slow requests', async () => {
    const started = Date.now();
    const results = await slowRequests(base, 3, { ms: 500 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    for (const r of results) {
      expect(r).toMatchObject({ status: 200, color: 'blue', error: undefined });
      expect(r.durationMs).toBeGreaterThanOrEqual(500);
    }
  });

  it('takes load on fresh connections without errors', async () => {
    const before = await nginxStatus(base);
    const load = startLoad({ url: `${base}/`, connections: 10, freshConnections: true });
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const report = await load.stop();
    const after = await nginxStatus(base);
    console.log('load report', report);

    expect(report.responses).toBeGreaterThan(300);
    expect(report.byStatus).toEqual({ 200: report.responses });
    expect(report).toMatchObject({ non200: 0, connErrors: 0, timeouts: 0, dropped: 0 });
    expect(report.byColor['blue']?.count).toBe(report.responses);
    expect(report.connectionsOpened).toBe(report.sent);
    // Nginx saw one connection per request; the only slack is requests cut
    // off by stop() before Nginx read them (their connection was accepted).
    const accepts = after.accepts - before.accepts;
    const requests = after.requests - before.requests;
    console.log(`nginx: ${accepts} connections accepted, ${requests} requests`);
    expect(requests).toBeGreaterThanOrEqual(report.responses);
    expect(accepts).toBeGreaterThanOrEqual(requests);
    expect(accepts - requests).toBeLessThanOrEqual(10);
  });

  it('passes nginx -t inside the proxy container', async () => {
    const { stdout } = await compose(project!.dir, ['ps', '-q', 'proxy'], { projectName: project!.name });
    const result = await docker(['exec', stdout.trim(), 'nginx', '-t'], { reject: false });
    expect(result.stderr).toContain('test is successful');
    expect(result.exitCode).toBe(0);
  });
});
