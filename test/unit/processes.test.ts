import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/io.js';
import { procContainerSignals, procProcesses, RUN_ENV } from '../../src/processes.js';

/** A child that stands for a `compose up` that a killed run left behind; resolves once its script has set up. */
async function orphan(token: string, script: string) {
  const child = spawn(process.execPath, ['-e', `${script}; console.log('ready')`], {
    env: { ...process.env, [RUN_ENV]: token },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  return child;
}

describe.skipIf(process.platform !== 'linux')('child processes of a dead run (Linux /proc)', () => {
  it('are found by the run token in their environment, and ended with SIGTERM', async () => {
    const token = `t-${process.pid}-${Date.now()}`;
    const child = await orphan(token, 'setInterval(() => {}, 1000)');
    const other = await orphan(`${token}-other`, 'setInterval(() => {}, 1000)');
    try {
      const processes = procProcesses(systemClock);
      expect((await processes.find(token)).map((p) => p.pid)).toEqual([child.pid]);
      const [found] = await processes.find(token);
      expect(found?.command).toMatch(/setInterval/);
      expect(await processes.end([child.pid ?? 0], 5_000)).toEqual([]);
      expect(await processes.find(token)).toEqual([]);
      expect(other.exitCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
      other.kill('SIGKILL');
    }
  });

  it('one that ignores SIGTERM is killed after the grace time', async () => {
    const token = `t-${process.pid}-${Date.now()}-stubborn`;
    const child = await orphan(token, "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)");
    try {
      const processes = procProcesses(systemClock);
      expect(await processes.find(token)).toHaveLength(1);
      const started = Date.now();
      expect(await processes.end([child.pid ?? 0], 300)).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      const exit = await new Promise((resolve) =>
        child.exitCode !== null || child.signalCode
          ? resolve(child.signalCode)
          : child.once('exit', (_, s) => resolve(s)),
      );
      expect(exit).toBe('SIGKILL');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('child processes, read from a /proc laid out as Linux does', () => {
  it('finds the processes of one run token only, skipping those that cannot be read', async () => {
    const proc = await mkdtemp(path.join(os.tmpdir(), 'bg-proc-'));
    const add = async (pid: number, environ: string[], stat: string) => {
      await mkdir(path.join(proc, String(pid)));
      await writeFile(path.join(proc, String(pid), 'environ'), `${environ.join('\0')}\0`);
      await writeFile(path.join(proc, String(pid), 'cmdline'), `docker\0compose\0up\0`);
      await writeFile(path.join(proc, String(pid), 'stat'), stat);
    };
    await add(4001, ['PATH=/usr/bin', `${RUN_ENV}=abc`], '4001 (docker) S 1 1');
    await add(4002, [`${RUN_ENV}=abcd`], '4002 (docker) S 1 1');
    await add(4003, [`${RUN_ENV}=abc`], '4003 (my (odd) name) Z 1 1');
    await mkdir(path.join(proc, '4004'));
    await writeFile(path.join(proc, 'self'), '');
    const processes = procProcesses(systemClock, proc);
    if (process.platform !== 'linux') return expect(await processes.find('abc')).toEqual([]);
    expect((await processes.find('abc')).map((p) => p.pid).sort()).toEqual([4001, 4003]);
    expect((await processes.find('abc'))[0]?.command).toBe('docker compose up');
  });
});

describe('signals to a process of a container, sent from this machine (Linux /proc)', () => {
  const ID = 'a'.repeat(64);

  /** A /proc with one entry for `pid`: its cgroup and command line as a container's Nginx master shows them. */
  async function fakeProc(pid: number, cgroup: string, cmdline: string): Promise<string> {
    const proc = await mkdtemp(path.join(os.tmpdir(), 'bg-proc-'));
    await mkdir(path.join(proc, String(pid)));
    await writeFile(path.join(proc, String(pid), 'cgroup'), cgroup);
    await writeFile(path.join(proc, String(pid), 'cmdline'), cmdline);
    return proc;
  }

  it.skipIf(process.platform !== 'linux')(
    'are sent only to the pid that /proc shows in the container, with the expected command',
    async () => {
      const child = await orphan(
        `sig-${process.pid}-${Date.now()}`,
        "process.on('SIGHUP', () => process.exit(7)); setInterval(() => {}, 1000)",
      );
      const pid = child.pid ?? 0;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        const master = 'nginx: master process /usr/sbin/nginx -g daemon off;';
        const cases: [string, string, string, number][] = [
          // Another container's process, another command, an id that is not a full one, pid 1.
          [`0::/docker/${'b'.repeat(64)}\n`, master, ID, pid],
          [`0::/docker/${ID}\n`, 'nginx: worker process', ID, pid],
          [`0::/docker/${ID}\n`, master, 'aaaa', pid],
          [`0::/docker/${ID}\n`, master, ID, 1],
        ];
        for (const [cgroup, cmdline, id, target] of cases) {
          const proc = await fakeProc(target, cgroup, cmdline);
          expect(await procContainerSignals(proc).send(target, id, 'nginx: master process', 'SIGHUP')).toBe(false);
        }
        expect(await procContainerSignals('/no/such/proc').send(pid, ID, 'nginx', 'SIGHUP')).toBe(false);
        expect(child.exitCode).toBeNull();
        // The systemd driver's path names it too: docker-<id>.scope.
        const proc = await fakeProc(pid, `0::/system.slice/docker-${ID}.scope\n`, `${master}\0`);
        expect(await procContainerSignals(proc).send(pid, ID, 'nginx: master process', 'SIGHUP')).toBe(true);
        expect(await exited).toBe(7);
      } finally {
        child.kill('SIGKILL');
      }
    },
  );

  it.skipIf(process.platform === 'linux')('are never sent where there is no /proc: docker exec does it', async () => {
    expect(await procContainerSignals().send(4242, ID, 'nginx: master process', 'SIGHUP')).toBe(false);
  });
});
