import { describe, expect, it } from 'vitest';
import { describeEndpoint, endpointOf, engineClock, isRemote, onEndpoint } from '../../src/docker/docker.js';
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

describe("a remote engine's clock", () => {
  it('is remote over ssh, tcp or a context other than default; local on a socket or a pipe', () => {
    expect(isRemote({ host: 'ssh://deploy@web1' })).toBe(true);
    expect(isRemote({ host: 'tcp://10.0.0.5:2376' })).toBe(true);
    expect(isRemote({ context: 'prod' })).toBe(true);
    expect(isRemote({ host: 'unix:///var/run/docker.sock' })).toBe(false);
    expect(isRemote({ host: 'npipe:////./pipe/docker_engine' })).toBe(false);
    expect(isRemote({ context: 'default' })).toBe(false);
    expect(isRemote({})).toBe(false);
  });

  it('is read from docker info, to the millisecond; undefined when docker does not tell it', async () => {
    const answers = ['"2026-11-30T09:52:00.123456789Z"\n', '', 'not json'];
    const seen: string[] = [];
    const runner: Runner = {
      async run(file, args) {
        seen.push([file, ...args].join(' '));
        const stdout = answers.shift() ?? '';
        return { command: file, exitCode: stdout ? 0 : 1, stdout, stderr: '', timedOut: false };
      },
    };
    const clock = engineClock(runner);
    expect(await clock.now()).toBe(Date.UTC(2026, 10, 30, 9, 52, 0, 123));
    expect(await clock.now()).toBeUndefined();
    expect(await clock.now()).toBeUndefined();
    expect(seen[0]).toBe('docker info --format {{json .SystemTime}}');
  });
});
