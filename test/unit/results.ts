import type { Result } from '../../src/deploy.js';

/** A deploy from blue to green that went well, as the sequence reports it. */
export const deployed: Result = {
  command: 'deploy',
  status: 'deployed',
  exitCode: 0,
  color: 'green',
  port: 8001,
  previousColor: 'blue',
  previousPort: 8000,
  targetColor: 'green',
  rolledBack: false,
  durationMs: 23_456,
  phases: [
    { name: 'detect', ms: 412, ok: true },
    { name: 'up', ms: 9_870, ok: true },
    { name: 'health', ms: 3_080, ok: true },
    { name: 'switch', ms: 260, ok: true },
    { name: 'drain', ms: 10_000, ok: true },
    { name: 'cleanup', ms: 1_234, ok: true },
  ],
  proxies: [
    { container: 'nginx', include: '/srv/app/nginx/service-url.inc', color: 'blue' },
    { container: 'test-nginx', include: '/etc/nginx/conf.d/test-backend/service-url.inc', color: 'blue' },
  ],
  running: { blue: false, green: true },
  plan: [],
};
