// `npm run demo`, as the README's quick start runs it: the example project of examples/ behind Nginx, two deploys.
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { docker } from './support/docker.js';
import { get } from './support/http.js';
import { freePorts } from './support/project.js';

const project = `bg-demo-${process.pid}`;

async function projectContainers(): Promise<string[]> {
  const r = await docker([
    'ps',
    '-a',
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--format',
    '{{.Names}}',
  ]);
  return r.stdout.split('\n').filter(Boolean).sort();
}

describe('npm run demo', () => {
  let env: Record<string, string> = {};
  afterAll(async () => {
    await execa('npm', ['run', 'demo', '--', '--down'], { env, reject: false });
  });

  it('deploys blue then green behind the proxy, says where to look, and --down removes it all', async () => {
    const [proxy = 0, blue = 0, green = 0] = await freePorts(3);
    env = { DEMO_PROJECT: project, DEMO_PORTS: `${blue},${green}`, PROXY_PORT: String(proxy) };
    const run = await execa('npm', ['run', 'demo'], { env, reject: false, all: true, timeout: 240_000 });
    expect(run.exitCode, run.all).toBe(0);
    expect(run.all).toMatch(/Result: deployed blue/);
    expect(run.all).toMatch(/Result: deployed green/);
    expect(run.all).toContain(`Open http://127.0.0.1:${proxy}/`);

    const answer = await get(`http://127.0.0.1:${proxy}/`);
    expect(answer.status).toBe(200);
    expect(answer.color).toBe('green');
    expect(JSON.parse(answer.body)).toMatchObject({ color: 'green', version: '2' });
    const containers = await projectContainers();
    expect(containers.some((c) => c.includes('app-blue'))).toBe(true);

    const down = await execa('npm', ['run', 'demo', '--', '--down'], { env, reject: false, all: true });
    expect(down.exitCode, down.all).toBe(0);
    expect(await projectContainers()).toEqual([]);
  });
});
