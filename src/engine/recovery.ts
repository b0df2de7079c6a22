import type { JournalEntry } from '../docker/journal.js';

/** What runs now, as the run that finds an unfinished deploy sees it. */
export interface Observed {
  /** Every service of the color runs. */
  allRunning: Record<string, boolean>;
  /** At least one container of the color runs (it may serve through the others). */
  someRunning: Record<string, boolean>;
  /** The color the unfinished run brought up answers its health check (asked only when it could be completed). */
  healthy: boolean;
}

/**
 * What to do about an unfinished deploy, before anything else:
 * - none: the proxies serve what their includes say; nothing to repair but, for a first deploy that died bringing
 *   its color up, that color (`stop`), which never served: left running, it would be taken for the live one;
 * - complete: point every proxy at `color` (the one the run brought up), reloading them unless all were reloaded
 *   already, check it through each proxy, then let `drain` (the old color) finish its requests;
 * - restore: put back the includes the proxies loaded before the run, reload those whose reload may have begun,
 *   then stop `stop` (a first deploy's color, which must not be taken for live);
 * - stuck: no color can take the traffic: nothing is changed, and the run stops saying so.
 */
export type Recovery =
  | { kind: 'none'; serving?: string; stop?: string; why: string }
  | { kind: 'complete'; color: string; reloadAll: boolean; drain?: string; why: string }
  | { kind: 'restore'; color?: string; reload: string[]; stop?: string; why: string }
  | { kind: 'stuck'; why: string };

/**
 * Phases whose run, had it lived, would have gone back to `from`: its undo, a required post-switch-command that had
 * not passed, a canary step not yet judged.
 */
function backward(phase: JournalEntry['phase']): boolean {
  return phase === 'undo' || phase === 'post-switch' || phase === 'canary';
}

/**
 * Whether the decision depends on the new color's health: only then is it asked. With several hosts, whenever the
 * new color runs: another host's state may call for completing the switch on this one (fleetRecovery).
 */
export function needsHealth(entry: JournalEntry, observed: Pick<Observed, 'allRunning'>, several = false): boolean {
  const { from, to, phase } = entry;
  if (phase === 'up' || phase === 'cleanup' || !observed.allRunning[to]) return false;
  if (several) return true;
  if (backward(phase)) return from !== undefined && !observed.allRunning[from];
  return from !== undefined || phase === 'switched';
}

/**
 * The proxies end on one color that runs: the new one when it runs and answers its health check (then each
 * proxy's check), else the old one when all its services run, or when no proxy may have loaded another include.
 * A color that may serve is never stopped or changed.
 * A first deploy is finished only once every proxy was switched (then its color served); otherwise it is undone
 * and its color stopped, so that the deploy that follows starts it over.
 */
export function decideRecovery(entry: JournalEntry, observed: Observed): Recovery {
  const { from, to, phase } = entry;
  const toAnswers = Boolean(observed.allRunning[to]) && observed.healthy;
  const stopTo = observed.someRunning[to] ? to : undefined;
  if (phase === 'up') {
    return from === undefined
      ? { kind: 'none', stop: stopTo, why: `the first deploy of ${to} died while bringing it up; ${to} never served` }
      : {
          kind: 'none',
          serving: from,
          why: `${to} was being brought up and never took traffic; the proxies still serve ${from}`,
        };
  }
  if (phase === 'cleanup') {
    return {
      kind: 'none',
      serving: to,
      why: `${to} had passed every check and served; ${from ?? 'the old color'} was being stopped`,
    };
  }
  const state =
    phase === 'switch'
      ? 'had begun'
      : phase === 'switched'
        ? 'was done but not yet checked'
        : phase === 'post-switch'
          ? 'was done, but its post-switch-command had not passed'
          : phase === 'canary'
            ? 'was a canary step, not yet judged'
            : 'was being undone';
  const toState = !observed.allRunning[to]
    ? 'is not running'
    : observed.healthy
      ? 'answers its health check'
      : 'does not answer its health check';
  if (from === undefined) {
    if (phase === 'switched' && toAnswers) {
      return {
        kind: 'complete',
        color: to,
        reloadAll: false,
        why: `the first deploy's switch to ${to} was done, and ${to} ${toState}`,
      };
    }
    return {
      kind: 'restore',
      reload: entry.reloading,
      stop: stopTo,
      why: `the first deploy's switch to ${to} ${state}, and ${to} ${toState}: the includes found before it are put back`,
    };
  }
  const fromRuns = Boolean(observed.allRunning[from]);
  const complete: Recovery = {
    kind: 'complete',
    color: to,
    reloadAll: phase !== 'switched',
    drain: observed.someRunning[from] ? from : undefined,
    why: `the switch to ${to} ${state}, and ${to} ${toState}`,
  };
  const restore: Recovery = {
    kind: 'restore',
    color: from,
    reload: entry.reloading,
    why: `the switch to ${to} ${state}, and ${to} ${toState}: the proxies go back to ${from}`,
  };
  // With no reload begun, the proxy still serves what it loaded: putting the files back changes no traffic.
  const nothingLoaded = entry.reloading.length === 0;
  // A required post-switch-command that never passed is a failed check, and a canary step not yet judged an
  // unfinished one: their run would have gone back to `from`.
  if (backward(phase)) {
    // The dead run's own undo never moved traffic to a color that does not fully run; nor does its recovery.
    if (fromRuns || nothingLoaded) return restore;
    if (toAnswers)
      return { ...complete, why: `${complete.why}, while ${from} does not fully run: ${to} keeps the traffic` };
  } else {
    if (toAnswers) return complete;
    if (fromRuns || nothingLoaded) return restore;
  }
  return {
    kind: 'stuck',
    why:
      `the switch to ${to} ${state}, but ${to} ${toState} and not every service of ${from} runs: no color can take ` +
      'the traffic, so the includes are left as they are',
  };
}

/** One host's unfinished run, what runs there, and what its recovery would do alone. */
export interface HostRecovery {
  host: string;
  entry: JournalEntry;
  observed: Observed;
  decision: Recovery;
}

/** The color a decision leaves serving: '' for none (a first deploy undone), undefined when it is stuck. */
function endsOn(r: Recovery): string | undefined {
  if (r.kind === 'stuck') return undefined;
  if (r.kind === 'none') return r.serving ?? '';
  return r.color ?? '';
}

/** The same change (command and colors): hosts that one fleet run left, or a recovery of it that died in turn. */
function sameChange(a: JournalEntry, b: JournalEntry): boolean {
  return a.command === b.command && a.from === b.from && a.to === b.to;
}

/**
 * Several hosts that a dead run left unfinished, each decided alone, could end on different colors: one host had
 * recorded its cleanup (every host had passed every check), the next had not yet; or one had switched while
 * another had not. They end on one: the new color once any of them began its cleanup, else the color that served
 * before (or, after a first deploy, the includes found before it), as the run itself would have undone every host
 * on a failure before its cleanup. A host that cannot go that way (the new color does not answer there, the old
 * one does not run) keeps its own decision, and the hosts stay split: the next run refuses with the table.
 * Hosts left by different changes (another command or other colors) each keep their own.
 */
export function fleetRecovery(hosts: HostRecovery[]): { decisions: Recovery[]; why?: string } {
  const decisions = hosts.map((h) => h.decision);
  const [first] = hosts;
  if (!first || hosts.length < 2) return { decisions };
  if (!hosts.every((h) => sameChange(h.entry, first.entry))) return { decisions };
  if (new Set(decisions.map(endsOn)).size === 1) return { decisions };
  const { from, to } = first.entry;
  const cleaning = hosts.filter((h) => h.entry.phase === 'cleanup').map((h) => h.host);
  const why = cleaning.length
    ? `${cleaning.join(', ')} had begun stopping ${from ?? 'the old color'}, so every host keeps ${to}`
    : `no host had begun its cleanup, so every host goes back to ${from ?? 'the includes found before the first deploy'}`;
  const toward = (h: HostRecovery): Recovery => {
    const { entry, observed, decision } = h;
    const because = `${decision.why}; with the other hosts of that run: ${why}`;
    if (cleaning.length) {
      if (endsOn(decision) === to || !observed.allRunning[to] || !observed.healthy) return decision;
      const drain = from !== undefined && observed.someRunning[from] ? from : undefined;
      return { kind: 'complete', color: to, reloadAll: true, drain, why: because };
    }
    if (endsOn(decision) === (from ?? '') || entry.phase === 'cleanup') return decision;
    const fromRuns = from === undefined || Boolean(observed.allRunning[from]);
    if (!fromRuns && entry.reloading.length) return decision;
    const stop = from === undefined && observed.someRunning[to] ? to : undefined;
    return { kind: 'restore', color: from, reload: entry.reloading, stop, why: because };
  };
  const agreed = hosts.map(toward);
  const split = new Set(agreed.map(endsOn)).size > 1;
  return {
    decisions: agreed,
    why: `the hosts were left at different steps of one run: ${why}${split ? ' (not every host can: they stay split)' : ''}`,
  };
}
