import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.js';
import { execute } from '../../src/engine/deployment.js';
import type { Result } from '../../src/engine/result.js';
import type { JournalEntry } from '../../src/docker/journal.js';
import { processIdentity, thisProcess } from '../../src/docker/lock.js';
import { renderInclude } from '../../src/proxy/include.js';
import {
  decideRecovery,
  fleetRecovery,
  needsHealth,
  type HostRecovery,
  type Observed,
  type Recovery,
} from '../../src/engine/recovery.js';
import { INCLUDE, killSwitch, RELOAD, setup, unfinishedDeploy, UP_BLUE, UP_GREEN } from './deploy-setup.js';
import { FakeHost, RecordingLogger } from './fake-host.js';

const KEY = 'project:app';

function observed(o: { all?: string[]; some?: string[]; healthy?: boolean }): Observed {
  const all = o.all ?? [];
  const some = [...all, ...(o.some ?? [])];
  return {
    allRunning: Object.fromEntries(['blue', 'green'].map((c) => [c, all.includes(c)])),
    someRunning: Object.fromEntries(['blue', 'green'].map((c) => [c, some.includes(c)])),
    healthy: o.healthy ?? false,
  };
}

describe('the recovery decision, for each half-state a dead run can leave', () => {
  it('a pending include (written, no reload begun) whose color runs and answers: the switch is completed', () => {
    const e = unfinishedDeploy('switch');
    const seen = observed({ all: ['blue', 'green'], healthy: true });
    expect(needsHealth(e, seen)).toBe(true);
    expect(decideRecovery(e, seen)).toMatchObject({ kind: 'complete', color: 'green', reloadAll: true, drain: 'blue' });
  });

  it('a pending include whose color is not running: the include goes back to what the proxies loaded', () => {
    const e = unfinishedDeploy('switch');
    const seen = observed({ all: ['blue'] });
    expect(needsHealth(e, seen)).toBe(false);
    expect(decideRecovery(e, seen)).toMatchObject({ kind: 'restore', color: 'blue', reload: [] });
  });

  it('a pending include whose color runs but does not answer: restored, and only proxies whose reload began reload', () => {
    const e = unfinishedDeploy('switch', { reloading: ['proxy'] });
    expect(decideRecovery(e, observed({ all: ['blue', 'green'], healthy: false }))).toMatchObject({
      kind: 'restore',
      color: 'blue',
      reload: ['proxy'],
    });
  });

  it('both colors running after every proxy was reloaded: green is kept (no reload), checked, and blue drains', () => {
    const e = unfinishedDeploy('switched', { reloading: ['proxy'] });
    expect(decideRecovery(e, observed({ all: ['blue', 'green'], healthy: true }))).toMatchObject({
      kind: 'complete',
      color: 'green',
      reloadAll: false,
      drain: 'blue',
    });
  });

  it('the new color up, never switched: nothing to repair, blue serves', () => {
    const e = unfinishedDeploy('up');
    expect(needsHealth(e, observed({ all: ['blue', 'green'] }))).toBe(false);
    expect(decideRecovery(e, observed({ all: ['blue', 'green'] }))).toMatchObject({ kind: 'none', serving: 'blue' });
  });

  it('a run that was undoing is undone, even when its new color answers', () => {
    const e = unfinishedDeploy('undo', { reloading: ['proxy'] });
    expect(decideRecovery(e, observed({ all: ['blue', 'green'], healthy: true }))).toMatchObject({
      kind: 'restore',
      color: 'blue',
    });
  });

  it('killed while a required post-switch-command ran: back to blue while it runs, as the failed hook would have', () => {
    const e = unfinishedDeploy('post-switch', { reloading: ['proxy'] });
    expect(needsHealth(e, observed({ all: ['blue', 'green'] }))).toBe(false);
    expect(decideRecovery(e, observed({ all: ['blue', 'green'], healthy: true }))).toMatchObject({
      kind: 'restore',
      color: 'blue',
      why: expect.stringMatching(/post-switch-command had not passed/),
    });
    // Blue gone meanwhile: green, which answers, keeps the traffic rather than nothing.
    expect(needsHealth(e, observed({ all: ['green'] }))).toBe(true);
    expect(decideRecovery(e, observed({ all: ['green'], healthy: true }))).toMatchObject({
      kind: 'complete',
      color: 'green',
    });
  });

  it('killed during a canary step: back to blue, even when green answers, as a failed step would have', () => {
    const e = unfinishedDeploy('canary', { reloading: ['proxy'] });
    expect(needsHealth(e, observed({ all: ['blue', 'green'] }))).toBe(false);
    expect(decideRecovery(e, observed({ all: ['blue', 'green'], healthy: true }))).toMatchObject({
      kind: 'restore',
      color: 'blue',
      reload: ['proxy'],
      why: expect.stringMatching(/was a canary step, not yet judged/),
    });
  });

  it('killed while stopping the old color: green serves, nothing to repair', () => {
    expect(decideRecovery(unfinishedDeploy('cleanup'), observed({ all: ['green'], some: ['blue'] }))).toMatchObject({
      kind: 'none',
      serving: 'green',
    });
  });

  it('a first deploy whose color does not answer: the includes found before it are put back, its color stopped', () => {
    const e = unfinishedDeploy('switch', { from: undefined, reloading: ['proxy'] });
    expect(needsHealth(e, observed({ all: ['green'] }))).toBe(false);
    const d = decideRecovery(e, observed({ all: ['green'], healthy: true }));
    expect(d).toMatchObject({ kind: 'restore', reload: ['proxy'], stop: 'green' });
    expect(d).not.toHaveProperty('color');
  });

  it('a first deploy switched everywhere, its color answering: finished, no reload', () => {
    const e = unfinishedDeploy('switched', { from: undefined, reloading: ['proxy'] });
    expect(needsHealth(e, observed({ all: ['green'] }))).toBe(true);
    expect(decideRecovery(e, observed({ all: ['green'], healthy: true }))).toMatchObject({
      kind: 'complete',
      color: 'green',
      reloadAll: false,
    });
  });

  it('a first deploy that died bringing its color up: that color, which never served, is stopped', () => {
    expect(decideRecovery(unfinishedDeploy('up', { from: undefined }), observed({ some: ['green'] }))).toMatchObject({
      kind: 'none',
      stop: 'green',
    });
  });

  it('restores only to a color whose every service runs; an undo keeps the new color when the old cannot serve', () => {
    const partly = observed({ all: ['green'], some: ['blue'], healthy: true });
    expect(decideRecovery(unfinishedDeploy('undo', { reloading: ['proxy'] }), partly)).toMatchObject({
      kind: 'complete',
      color: 'green',
    });
    expect(needsHealth(unfinishedDeploy('undo'), partly)).toBe(true);
    expect(needsHealth(unfinishedDeploy('undo'), observed({ all: ['blue', 'green'] }))).toBe(false);
  });

  it('neither color can serve once a reload began: stuck, nothing is changed', () => {
    const e = unfinishedDeploy('switch', { reloading: ['proxy'] });
    expect(decideRecovery(e, observed({ some: ['green', 'blue'] }))).toMatchObject({ kind: 'stuck' });
    expect(decideRecovery(e, observed({ all: ['green'], some: ['blue'], healthy: false }))).toMatchObject({
      kind: 'stuck',
    });
  });

  it('neither color can serve but no reload began: the files go back to what Nginx still serves', () => {
    expect(decideRecovery(unfinishedDeploy('switch'), observed({ some: ['green', 'blue'] }))).toMatchObject({
      kind: 'restore',
      color: 'blue',
      reload: [],
    });
  });
});

describe('hosts that one dead run left at different steps end on one color', () => {
  const plan = (host: string, entry: JournalEntry, o: Parameters<typeof observed>[0]): HostRecovery => {
    const seen = observed(o);
    return { host, entry, observed: seen, decision: decideRecovery(entry, seen) };
  };
  const ends = (r: Recovery) => (r.kind === 'stuck' ? 'stuck' : r.kind === 'none' ? r.serving : r.color);

  it('one host had begun stopping blue, the other had not recorded its cleanup: both keep green', () => {
    const hosts = [
      plan('web1', unfinishedDeploy('cleanup', { reloading: ['proxy'] }), { all: ['green'], some: ['blue'] }),
      plan('web2', unfinishedDeploy('post-switch', { reloading: ['proxy'] }), {
        all: ['blue', 'green'],
        healthy: true,
      }),
    ];
    // Alone, web2 would go back to blue (its required post-switch-command had not passed).
    expect(hosts.map((h) => ends(h.decision))).toEqual(['green', 'blue']);
    const { decisions, why } = fleetRecovery(hosts);
    expect(decisions.map(ends)).toEqual(['green', 'green']);
    expect(decisions[1]).toMatchObject({ kind: 'complete', color: 'green', reloadAll: true, drain: 'blue' });
    expect(why).toMatch(/web1 had begun stopping blue, so every host keeps green/);
  });

  it('one host switched, the other had only brought green up: both go back to blue', () => {
    const hosts = [
      plan('web1', unfinishedDeploy('switched', { reloading: ['proxy'] }), { all: ['blue', 'green'], healthy: true }),
      plan('web2', unfinishedDeploy('up'), { all: ['blue', 'green'] }),
    ];
    expect(hosts.map((h) => ends(h.decision))).toEqual(['green', 'blue']);
    const { decisions, why } = fleetRecovery(hosts);
    expect(decisions.map(ends)).toEqual(['blue', 'blue']);
    expect(decisions[0]).toMatchObject({ kind: 'restore', color: 'blue', reload: ['proxy'] });
    expect(decisions[1]).toBe(hosts[1]?.decision);
    expect(why).toMatch(/no host had begun its cleanup, so every host goes back to blue/);
  });

  it('a first deploy switched on one host only: undone on both, green stopped', () => {
    const first = (phase: JournalEntry['phase'], patch: Partial<JournalEntry> = {}) =>
      unfinishedDeploy(phase, { from: undefined, ...patch });
    const hosts = [
      plan('web1', first('switched', { reloading: ['proxy'] }), { all: ['green'], healthy: true }),
      plan('web2', first('up'), { all: ['green'] }),
    ];
    const { decisions } = fleetRecovery(hosts);
    expect(decisions[0]).toMatchObject({ kind: 'restore', color: undefined, reload: ['proxy'], stop: 'green' });
    expect(decisions[1]).toMatchObject({ kind: 'none', stop: 'green' });
  });

  it("a host that cannot go the fleet's way keeps its own decision, and the split is said", () => {
    const hosts = [
      plan('web1', unfinishedDeploy('switched', { reloading: ['proxy'] }), { all: ['green'], healthy: true }),
      plan('web2', unfinishedDeploy('up'), { all: ['blue', 'green'] }),
    ];
    const { decisions, why } = fleetRecovery(hosts);
    // Blue does not run on web1 and its proxy was reloaded: it cannot go back.
    expect(decisions.map(ends)).toEqual(['green', 'blue']);
    expect(why).toMatch(/not every host can: they stay split/);
  });

  it('hosts that agree, or that were left by different changes, each keep their own decision', () => {
    const agree = [
      plan('web1', unfinishedDeploy('switched', { reloading: ['proxy'] }), { all: ['blue', 'green'], healthy: true }),
      plan('web2', unfinishedDeploy('switch'), { all: ['blue', 'green'], healthy: true }),
    ];
    expect(fleetRecovery(agree)).toEqual({ decisions: agree.map((h) => h.decision) });
    const different = [
      agree[0]!,
      plan('web2', unfinishedDeploy('up', { command: 'rollback' }), { all: ['blue', 'green'] }),
    ];
    expect(fleetRecovery(different)).toEqual({ decisions: different.map((h) => h.decision) });
  });

  it("with several hosts, the new color's health is asked whenever it runs", () => {
    const e = unfinishedDeploy('post-switch', { reloading: ['proxy'] });
    expect(needsHealth(e, observed({ all: ['blue', 'green'] }))).toBe(false);
    expect(needsHealth(e, observed({ all: ['blue', 'green'] }), true)).toBe(true);
    expect(needsHealth(unfinishedDeploy('up'), observed({ all: ['blue', 'green'] }), true)).toBe(false);
  });
});

type Setup = Awaited<ReturnType<typeof setup>>;

/** A run of this host that dies at instant `at` (see killSwitch). */
function killable(s: Setup, at: number, when: 'before' | 'after', config: Config = s.config) {
  const kill = killSwitch(at, when);
  const result = execute(config, kill.deps(s.deps));
  return { death: kill.death, result, labels: kill.labels };
}

/** Runs until it dies at the instant (or ends before it); resolves with the instants it went through. */
async function killedAt(s: Setup, at: number, when: 'before' | 'after', config?: Config): Promise<string[]> {
  const run = killable(s, at, when, config);
  await Promise.race([run.death, run.result]);
  return run.labels;
}

/** The color the proxy serves, and the container that answers for it (a request through the proxy reaches it). */
function proxyServes(host: FakeHost): { color?: string; id?: string; up: boolean } {
  const color = host.servedColor('proxy');
  const container = host.containers.get(`app-${color}`);
  return { color, id: container?.id, up: Boolean(container?.running) };
}

/**
 * The next deploy, checking around every command it runs that a request through the proxy would be answered: a
 * color it serves runs, and was not recreated under it (requests in flight on the old container would fail). The
 * placeholder of a first deploy serves no color.
 */
async function nextDeploy(s: Setup): Promise<{ result: Result; outages: string[]; log: RecordingLogger }> {
  const outages: string[] = [];
  const runner = {
    run: async (...args: Parameters<FakeHost['run']>) => {
      const before = proxyServes(s.host);
      const r = await s.host.run(...args);
      const now = proxyServes(s.host);
      if (now.color && !now.up) outages.push(`after ${r.command}: the proxy serves ${now.color}, which is not running`);
      if (now.color && now.color === before.color && now.id !== before.id) {
        outages.push(`${r.command} recreated ${now.color} while it served`);
      }
      return r;
    },
  };
  const log = new RecordingLogger();
  const result = await execute(s.config, { ...s.deps, runner, log });
  return { result, outages, log };
}

/** After a kill: the proxy serves a color that runs (or the placeholder of a first deploy), and the ids to keep. */
function afterKill(s: Setup) {
  const served = proxyServes(s.host);
  expect(!served.color || served.up, `the killed run left the proxy on ${served.color}, which is not running`).toBe(
    true,
  );
  return {
    served,
    ids: { blue: s.host.containers.get('app-blue')?.id, green: s.host.containers.get('app-green')?.id },
    journaled: s.journal.entries.size > 0,
  };
}

/** The next deploy repairs what the kill left, with no outage, and leaves no journal. */
async function expectRepaired(s: Setup, after: ReturnType<typeof afterKill>, killed: { command: string; to: string }) {
  const { result, outages } = await nextDeploy(s);
  expect(result.error).toBeUndefined();
  expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
  expect(outages).toEqual([]);
  expect(s.host.servedColor('proxy')).toBe(result.color);
  // The color that served when the deploy proper began was neither recreated nor removed.
  if (result.previousColor) {
    const kept = result.previousColor as 'blue' | 'green';
    expect(s.host.containers.get(`app-${kept}`)?.id).toBe(after.ids[kept]);
  }
  expect(s.journal.entries.size, 'the journal is cleared once repaired').toBe(0);
  if (after.journaled) expect(result.interrupted).toMatchObject({ command: killed.command, to: killed.to });
  return result;
}

/** Every instant of a whole run, before and after it, counted on a run that is never killed. */
async function instantsOf(
  live: 'blue' | undefined,
  command: 'deploy' | 'rollback' = 'deploy',
  proxyStopped = false,
  raw: Record<string, string> = {},
) {
  const s = await setup({ live, idleStopped: command === 'rollback', raw });
  if (proxyStopped) s.host.setProxyStatus('proxy', 'exited');
  const labels = await killedAt(s, Number.MAX_SAFE_INTEGER, 'before', { ...s.config, command });
  return labels.flatMap((label, i) => [[i + 1, 'before', label] as const, [i + 1, 'after', label] as const]);
}

describe('a run killed at any instant: the next deploy repairs it, with no outage', async () => {
  it.each(await instantsOf('blue'))('deploy from blue killed at instant %i (%s %s)', async (n, when) => {
    const s = await setup({ live: 'blue' });
    await killedAt(s, n, when);
    await expectRepaired(s, afterKill(s), { command: 'deploy', to: 'green' });
  });

  it.each(await instantsOf(undefined))('first deploy killed at instant %i (%s %s)', async (n, when) => {
    const s = await setup();
    await killedAt(s, n, when);
    await expectRepaired(s, afterKill(s), { command: 'deploy', to: 'blue' });
  });

  it.each(await instantsOf(undefined, 'deploy', true))(
    'first deploy that starts the proxy, killed at instant %i (%s %s)',
    async (n, when) => {
      const s = await setup();
      s.host.setProxyStatus('proxy', 'exited');
      await killedAt(s, n, when);
      await expectRepaired(s, afterKill(s), { command: 'deploy', to: 'blue' });
    },
  );

  const canary = { 'canary-steps': '10,50', 'canary-interval': '2' };
  it.each(await instantsOf('blue', 'deploy', false, canary))(
    'canary deploy from blue killed at instant %i (%s %s): a step not yet judged goes back to blue',
    async (n, when) => {
      const s = await setup({ live: 'blue', raw: canary });
      await killedAt(s, n, when);
      const phase = [...s.journal.entries.values()][0]?.phase;
      const result = await expectRepaired(s, afterKill(s), { command: 'deploy', to: 'green' });
      if (phase === 'canary') expect(result.interrupted?.serving).toBe('blue');
    },
  );

  it.each(await instantsOf('blue', 'rollback'))('rollback to green killed at instant %i (%s %s)', async (n, when) => {
    const s = await setup({ live: 'blue', idleStopped: true });
    await killedAt(s, n, when, { ...s.config, command: 'rollback' });
    await expectRepaired(s, afterKill(s), { command: 'rollback', to: 'green' });
  });
});

describe('a recovery killed at any instant: the run after it still repairs, with no outage', async () => {
  // Killed with the include written and not loaded, and again just before the first reload.
  const deploy = await instantsOf('blue');
  const pending = [
    deploy.find(([, when, label]) => when === 'before' && / nginx -T$/.test(label)),
    [...deploy].reverse().find(([, when, label]) => when === 'after' && label === 'journal switch'),
  ];
  const first = pending.filter((p): p is NonNullable<typeof p> => p !== undefined);
  expect(first).toHaveLength(2);
  for (const [n, when, label] of first) {
    const s = await setup({ live: 'blue' });
    await killedAt(s, n, when);
    const recovery = await killedAt(s, Number.MAX_SAFE_INTEGER, 'before');
    const instants = recovery.flatMap((l, i) => [[i + 1, 'before', l] as const, [i + 1, 'after', l] as const]);
    it.each(instants)(`killed ${when} ${label}, then the recovery killed at instant %i (%s %s)`, async (m, again) => {
      const t = await setup({ live: 'blue' });
      await killedAt(t, n, when);
      await killedAt(t, m, again);
      const left = [...t.journal.entries.values()][0];
      await expectRepaired(t, afterKill(t), { command: 'deploy', to: left?.to ?? 'green' });
    });
    // Green answers 500 by the time of the third run, until its next build: the proxies must leave it.
    it.each(instants)(
      `killed ${when} ${label}, the recovery killed at instant %i (%s %s), then green fails`,
      async (m, again) => {
        const t = await setup({ live: 'blue' });
        await killedAt(t, n, when);
        await killedAt(t, m, again);
        t.host.appStatus.set('app-green', 500);
        t.host.fixedByUp.add('app-green');
        const left = [...t.journal.entries.values()][0];
        await expectRepaired(t, afterKill(t), { command: 'deploy', to: left?.to ?? 'green' });
      },
    );
  }
});

describe('recovery on a real sequence', () => {
  /** Blue serves; a deploy of green died with the state of `e` recorded; the host is set up to match. */
  async function unfinished(e: JournalEntry, options: { greenRunning?: boolean; includeOn?: string } = {}) {
    const s = await setup({ live: 'blue' });
    if (options.greenRunning ?? true) s.host.addRunning('app-green');
    if (options.includeOn)
      s.files.put(
        INCLUDE,
        renderInclude(s.config.targets[0]!, options.includeOn, options.includeOn === 'blue' ? 8000 : 8001),
      );
    s.journal.entries.set(KEY, e);
    s.files.writes = [];
    return s;
  }

  it('the issue: include written to green, never loaded; green healthy: the switch is completed, then blue is deployed', async () => {
    const s = await unfinished(unfinishedDeploy('switch'), { includeOn: 'green' });
    const blueId = s.host.containers.get('app-blue')?.id;
    s.host.oldWorkersBusyMs = 3_000;
    const { result, outages, log } = await nextDeploy(s);
    expect(outages).toEqual([]);
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, previousColor: 'green', color: 'blue' });
    expect(result.interrupted).toMatchObject({
      phase: 'switch',
      from: 'blue',
      to: 'green',
      serving: 'green',
      orphans: [],
    });
    expect(result.interrupted?.action).toMatch(/switch to green was completed and checked through the proxies/);
    expect(result.phases.map((p) => p.name)).toEqual([
      'recover',
      'detect',
      'up',
      'health',
      'switch',
      'verify',
      'drain',
      'cleanup',
    ]);
    // Recovery reloads onto green and lets blue drain before the deploy rebuilds blue.
    expect(s.host.changes.slice(0, 2)).toEqual([RELOAD, UP_BLUE]);
    expect(log.text).toMatch(/Drain of blue ended: every old worker of proxy exited after 3\.0 s\./);
    expect(s.host.containers.get('app-blue')?.id).not.toBe(blueId);
  });

  it('include written to green, never loaded; green stopped: the include goes back to blue with no reload', async () => {
    const s = await unfinished(unfinishedDeploy('switch'), { includeOn: 'green', greenRunning: false });
    const blueId = s.host.containers.get('app-blue')?.id;
    const { result, outages } = await nextDeploy(s);
    expect(outages).toEqual([]);
    expect(result).toMatchObject({ status: 'deployed', previousColor: 'blue', color: 'green' });
    expect(result.interrupted).toMatchObject({ serving: 'blue' });
    expect(result.interrupted?.action).toMatch(/put back on blue/);
    expect(s.host.changes[0]).toBe(UP_GREEN);
    expect(s.host.containers.get('app-blue')?.id).toBe(blueId);
  });

  it('green answers 500 at the recovery: restored to blue; the deploy that follows rebuilds green', async () => {
    const s = await unfinished(unfinishedDeploy('switch', { reloading: ['proxy'] }), { includeOn: 'green' });
    s.host.appStatus.set('app-green', 500);
    const run = nextDeploy(s);
    // Green is fixed by the deploy's own rebuild (a new version).
    const original = s.host.run.bind(s.host);
    s.host.run = async (file, args, options) => {
      if (args.includes('up')) s.host.appStatus.delete('app-green');
      return original(file, args, options);
    };
    const { result, outages } = await run;
    expect(outages).toEqual([]);
    expect(result.interrupted).toMatchObject({ serving: 'blue' });
    expect(result).toMatchObject({ status: 'deployed', previousColor: 'blue', color: 'green' });
  });

  it('killed during the drain (both colors run, all proxies on green): kept on green with no reload, blue drains', async () => {
    const s = await unfinished(unfinishedDeploy('switched', { reloading: ['proxy'] }), { includeOn: 'green' });
    s.host.run('docker', ['exec', 'proxy', 'nginx', '-s', 'reload'], { timeoutMs: 1 });
    s.host.calls.length = 0;
    const { result, outages } = await nextDeploy(s);
    expect(outages).toEqual([]);
    expect(result.interrupted).toMatchObject({ phase: 'switched', serving: 'green' });
    expect(s.host.changes[0]).toBe(UP_BLUE);
  });

  it('a proxy whose reload began but that is stopped now is not reloaded by the restore', async () => {
    const s = await unfinished(unfinishedDeploy('switch', { reloading: ['proxy'] }), {
      includeOn: 'green',
      greenRunning: false,
    });
    s.host.setProxyStatus('proxy', 'exited');
    const { result } = await nextDeploy(s);
    expect(result.interrupted).toMatchObject({ serving: 'blue' });
    expect(result.interrupted?.action).toMatch(/put back on blue/);
    expect(s.files.data.get(INCLUDE)).toContain('server app-blue:8000;');
    expect(s.host.calls.filter((c) => c.endsWith('nginx -s reload'))).toEqual([]);
    // The deploy itself then refuses the stopped proxy, with nothing changed.
    expect(result.error).toMatch(/proxy container proxy is not running/);
  });

  it('a first deploy switched everywhere whose check through the proxy fails: undone, its color stopped', async () => {
    const s = await setup();
    s.host.addRunning('app-blue');
    s.files.put(INCLUDE, renderInclude(s.config.targets[0]!, 'blue', 8000));
    await s.host.run('docker', ['exec', 'proxy', 'nginx', '-s', 'reload'], { timeoutMs: 1 });
    s.journal.entries.set(
      KEY,
      unfinishedDeploy('switched', {
        from: undefined,
        to: 'blue',
        reloading: ['proxy'],
        includes: [{ container: 'proxy', file: INCLUDE, previous: 'upstream app {\n    server 127.0.0.1:9;\n}\n' }],
      }),
    );
    s.host.proxyAnswer = (color) => (color === 'blue' && s.host.fixedByUp.has('app-blue') ? 502 : 200);
    s.host.fixedByUp.add('app-blue');
    const { result } = await nextDeploy(s);
    expect(result.interrupted?.action).toMatch(/blue failed its check; the first deploy was undone and blue stopped/);
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'blue' });
    expect(result.previousColor).toBeUndefined();
  });

  it('a dead lock holder with a live child: the child is ended before anything changes', async () => {
    const s = await unfinished(unfinishedDeploy('up'));
    s.processes.running.push({ pid: 4242, command: 'docker compose up -d app-green', token: 'dead-run' });
    s.processes.running.push({ pid: 4343, command: 'sleep 1000', token: 'another-run' });
    const { result } = await nextDeploy(s);
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0 });
    expect(result.interrupted).toMatchObject({ phase: 'up', orphans: [4242], serving: 'blue' });
    expect(s.processes.ended).toEqual([4242]);
    expect(s.processes.changesBeforeEnd).toBe(0);
  });

  it('a migration the dead run started (pre-deploy-command) is ended: its one-off container is removed', async () => {
    const s = await unfinished(unfinishedDeploy('up'), { greenRunning: false });
    const migration = s.host.addOneOff('app-green');
    migration.labels['bluegreen.run'] = 'dead-run';
    const other = s.host.addOneOff('app-green');
    other.labels['bluegreen.run'] = 'another-run';
    const { result } = await nextDeploy(s);
    expect(result).toMatchObject({ status: 'deployed', exitCode: 0, color: 'green' });
    expect(s.host.changes[0]).toBe(`docker rm --force ${migration.id}`);
    expect(s.host.containers.find(migration.id)).toBeUndefined();
    expect(s.host.containers.find(other.id)).toBeDefined();
  });

  it('a child that cannot be ended: nothing changes, exit 3, the journal is kept for the next run', async () => {
    const s = await unfinished(unfinishedDeploy('up'));
    s.processes.running.push({ pid: 4242, command: 'docker compose up', token: 'dead-run', ignoresTerm: true });
    const { result } = await nextDeploy(s);
    expect(result).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(result.error).toMatch(/could not end process\(es\) 4242.*journal is kept/s);
    expect(s.host.changes).toEqual([]);
    expect(s.journal.entries.has(KEY)).toBe(true);
  });

  it('the journal of a process that still runs on this host: refused, nothing changed', async () => {
    // The test runner's parent process stands for a deploy still under way.
    const alive = { ...thisProcess('live-run', 'deploy', 0), pid: process.ppid, ...processIdentity(process.ppid) };
    const s = await unfinished(unfinishedDeploy('switch', { run: alive }), { includeOn: 'green' });
    const { result } = await nextDeploy(s);
    expect(result.exitCode).toBe(1);
    expect(result.error).toMatch(/still runs, yet this run holds the lock .*Nothing was changed/s);
    expect(s.host.changes).toEqual([]);
  });

  it('status tells of the unfinished run and what the proxies load, and changes nothing', async () => {
    const s = await unfinished(unfinishedDeploy('switch'), { includeOn: 'green' });
    s.config.command = 'status';
    const log = new RecordingLogger();
    const result = await execute(s.config, { ...s.deps, log });
    expect(result).toMatchObject({ status: 'unchanged', exitCode: 0, color: 'blue' });
    expect(result.interrupted).toMatchObject({ phase: 'switch', underWay: false, serving: 'blue' });
    expect(log.text).toMatch(
      /A deploy of green was found unfinished: process 4194303 .* was switching the proxies from blue to green \(no proxy reloaded yet\)/,
    );
    expect(log.text).toMatch(
      /The proxies load blue; none yet: the next deploy or rollback finishes or undoes it first\./,
    );
    expect(s.host.changes).toEqual([]);
    expect(s.journal.entries.has(KEY)).toBe(true);
  });

  it('a deploy records each step before it begins, and clears the journal once done', async () => {
    const s = await setup({ live: 'blue' });
    const result = await s.run();
    expect(result.status).toBe('deployed');
    expect(s.journal.written.map((e) => e.phase)).toEqual(['up', 'switch', 'switch', 'switched', 'cleanup']);
    expect(s.journal.written[1]).toMatchObject({
      from: 'blue',
      to: 'green',
      reloading: [],
      includes: [{ container: 'proxy', file: INCLUDE }],
    });
    expect(s.journal.written[1]?.includes[0]?.previous).toContain('server app-blue:8000;');
    expect(s.journal.written[2]?.reloading).toEqual(['proxy']);
    expect(s.journal.entries.size).toBe(0);
  });

  it('a failed switch records the undo; a rollback that ends restored clears the journal', async () => {
    const s = await setup({ live: 'blue' });
    s.host.proxyAnswer = (color) => (color === 'green' ? 502 : 200);
    const result = await s.run();
    expect(result).toMatchObject({ status: 'rolled-back', exitCode: 1 });
    expect(s.journal.written.map((e) => e.phase)).toEqual(['up', 'switch', 'switch', 'switched', 'undo']);
    expect(s.journal.entries.size).toBe(0);
  });

  it('every child process carries the run token, the same in the journal', async () => {
    const s = await setup({ live: 'blue' });
    const tokens = new Set<string>();
    const original = s.host.run.bind(s.host);
    s.host.run = async (file, args, options) => {
      tokens.add(options.env?.BLUEGREEN_RUN ?? '(none)');
      return original(file, args, options);
    };
    await s.run();
    expect([...tokens]).toEqual([s.journal.written[0]?.run.token]);
  });
});
