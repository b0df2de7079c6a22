import { describe, expect, it } from 'vitest';
import { describeEndpoint, endpointOf, onEndpoint } from '../../src/docker/docker.js';
import type { RunOptions, Runner } from '../../src/runner.js';

function recorder(): Runner & { calls: { file: string; env?: Record<string, string> }[] } {
  const calls: { file: string; env?: Record<string, string> }[] = [];
  return {
    calls,
    async run(file: string, _args: readonly string[], options: RunOptions) {
      calls.push({ file, env: options.env });
      return { command: file, exitCode: 0, stdout: '', stderr: '', timedOut: false };
    },
  };
}

describe('where docker runs', () => {
  it('is read from DOCKER_HOST first, then DOCKER_CONTEXT, as the docker CLI reads them', () => {
    expect(endpointOf({ DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_CONTEXT: 'prod' })).toEqual({
      host: 'tcp://10.0.0.5:2376',
    });
    expect(endpointOf({ DOCKER_CONTEXT: 'prod' })).toEqual({ context: 'prod' });
    expect(endpointOf({ DOCKER_HOST: '  ', DOCKER_CONTEXT: '' })).toEqual({});
    expect(describeEndpoint({ host: 'ssh://deploy@web1' })).toBe('DOCKER_HOST=ssh://deploy@web1');
    expect(describeEndpoint({ context: 'prod' })).toBe('docker context prod');
    expect(describeEndpoint({})).toMatch(/current context/);
  });

  it('is pinned on every docker and compose child, over what a caller passes, and on nothing else', async () => {
    const inner = recorder();
    const runner = onEndpoint(inner, { host: 'unix:///run/other.sock' });
    await runner.run('docker', ['ps'], { timeoutMs: 1000 });
    await runner.run('docker-compose', ['ps'], {
      timeoutMs: 1000,
      env: { COMPOSE_ANSI: 'never', DOCKER_HOST: 'tcp://elsewhere:2375' },
    });
    await runner.run('git', ['status'], { timeoutMs: 1000, env: { A: '1' } });
    expect(inner.calls).toEqual([
      { file: 'docker', env: { DOCKER_HOST: 'unix:///run/other.sock' } },
      { file: 'docker-compose', env: { COMPOSE_ANSI: 'never', DOCKER_HOST: 'unix:///run/other.sock' } },
      { file: 'git', env: { A: '1' } },
    ]);
  });

  it('leaves the runner as it is when the environment names no engine', async () => {
    const inner = recorder();
    expect(onEndpoint(inner, {})).toBe(inner);
    const runner = onEndpoint(inner, { context: 'prod' });
    await runner.run('docker', ['ps'], { timeoutMs: 1000 });
    // An empty DOCKER_HOST is unset for the CLI and Compose: else it would win over the context.
    expect(inner.calls).toEqual([{ file: 'docker', env: { DOCKER_CONTEXT: 'prod', DOCKER_HOST: '' } }]);
  });
});
