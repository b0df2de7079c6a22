import type { JournalEntry } from './journal.js';

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
 * - none: the proxies serve what their includes say; nothing to repair;
 * - complete: point every proxy at `color` (the one the run brought up), reloading them unless all were reloaded
 *   already, check it through each proxy, then let `drain` (the old color) finish its requests;
 * - restore: put back the includes the proxies loaded before the run, and reload those whose reload began.
 */
export type Recovery =
  | { kind: 'none'; serving?: string; why: string }
  | { kind: 'complete'; color: string; reloadAll: boolean; drain?: string; why: string }
  | { kind: 'restore'; color?: string; reload: string[]; why: string };

/** Whether the decision depends on the new color's health: only then is it asked. */
export function needsHealth(entry: JournalEntry, observed: Pick<Observed, 'allRunning'>): boolean {
  return (entry.phase === 'switch' || entry.phase === 'switched') && Boolean(observed.allRunning[entry.to]);
}

/**
 * The serving color is never the one changed: a color whose containers the unfinished run left running and that
 * the proxies may serve stays as it is, and the proxies end on a color that runs (and, when it is the new one,
 * answers its health check and then each proxy's check).
 */
export function decideRecovery(entry: JournalEntry, observed: Observed): Recovery {
  const { from, to, phase } = entry;
  const fromServes = from !== undefined && Boolean(observed.someRunning[from]);
  if (phase === 'up') {
    return {
      kind: 'none',
      serving: fromServes ? from : undefined,
      why: `${to} was being brought up and never took traffic; the proxies still serve ${from ?? 'nothing (a first deploy)'}`,
    };
  }
  if (phase === 'cleanup') {
    return {
      kind: 'none',
      serving: to,
      why: `${to} had passed every check and served; ${from ?? 'the old color'} was being stopped`,
    };
  }
  const verb = phase === 'undo' ? 'was being undone' : 'was being switched';
  if (phase !== 'undo' && observed.allRunning[to] && observed.healthy) {
    return {
      kind: 'complete',
      color: to,
      reloadAll: phase === 'switch',
      drain: fromServes ? from : undefined,
      why: `the switch to ${to} ${phase === 'switch' ? 'had begun' : 'was done but not yet checked'}, and ${to} runs and answers its health check`,
    };
  }
  if (fromServes || from === undefined) {
    const why = phase === 'undo' ? 'the run had failed or was cancelled' : `${to} ${observed.allRunning[to] ? 'does not answer its health check' : 'is not running'}`;
    return {
      kind: 'restore',
      color: from,
      reload: entry.reloading,
      why: `the switch to ${to} ${verb}, and ${why}: the proxies go back to ${from ?? 'the includes they had before this first deploy'}`,
    };
  }
  return {
    kind: 'none',
    why:
      `the switch to ${to} ${verb}, but neither ${from} runs nor ${to} answers its health check: the includes are ` +
      'left as they are',
  };
}
