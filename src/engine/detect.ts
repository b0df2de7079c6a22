// Step 1: what runs and what each proxy points at (I/O), then which color is live (decideLive, pure).
import { ConfigError, type ProxyTarget } from '../config/config.js';
import type { ContainerState, SharedService } from '../docker/compose.js';
import type { ProxyState } from '../proxy/proxy.js';
import type { Deployment } from './deployment.js';
import { StepFailure } from './errors.js';

/** Where things stand before anything is changed. */
export interface Situation {
  services: Record<string, string[]>;
  /** Each color's services that run once and exit (see ComposeDriver.oneOffServices): never "running". */
  oneOff: Record<string, string[]>;
  /** Each color's containers as they were found. */
  states: Record<string, ContainerState[]>;
  shared: SharedService[];
  includes: { target: ProxyTarget; content: string | null; color?: string }[];
  /** Each proxy container that exists, as docker inspect tells. */
  proxies: Map<string, ProxyState>;
  running: Record<string, boolean>;
  live?: string;
}

// 1. Find the live color from what the proxies point at, cross-checked with what runs.
export async function detect(d: Deployment): Promise<Situation> {
  const { colors } = d.config;
  const seen = await observe(d);
  const { running } = seen;
  const live = loadedPerJournal(d, seen) ?? liveFromIncludes(d, seen);
  d.log.info(
    live
      ? `Live color: ${live} (port ${d.compose.port(live)}); running: ${colors.filter((c) => running[c]).join(', ') || 'none'}`
      : 'No live color: this is a first deploy.',
  );
  d.result.previousColor = live;
  d.result.previousPort = live ? d.compose.port(live) : undefined;
  return { ...seen, live };
}

/**
 * status and dry runs that find an unfinished deploy leave it be: the include files may name a color no proxy has
 * loaded yet, and the journal tells what the proxies load.
 */
function loadedPerJournal(d: Deployment, seen: Omit<Situation, 'live'>): string | undefined {
  const loaded = d.readOnly ? d.result.interrupted?.serving : undefined;
  if (!loaded) return undefined;
  // As anywhere else, a color none of whose containers runs is not live, whatever the proxies load.
  if (someRunning(d.config.colors, seen.states)[loaded]) return loaded;
  d.log.warn(`The proxies load ${loaded}, which does not run: the live color is told from the includes and what runs.`);
  return undefined;
}

function liveFromIncludes(d: Deployment, seen: Omit<Situation, 'live'>): string | undefined {
  // A color with one service down still serves through the others: for the live color, any running container counts.
  const decision = decideLive({
    colors: d.config.colors,
    pointed: seen.includes.map((i) => ({ container: i.target.container, color: i.color })),
    running: someRunning(d.config.colors, seen.states),
  });
  for (const idle of decision.idlePointed)
    d.log.warn(`An include points at ${idle}, which is not running: ${idle} is not live.`);
  if (decision.refused) throw new StepFailure(decision.refused);
  return decision.live;
}

/** What runs and what each include points at, with no conclusion drawn yet. */
export async function observe(d: Deployment): Promise<Omit<Situation, 'live'>> {
  const { colors, ports } = d.config;
  await d.compose.checkColorsApart();
  const services: Record<string, string[]> = {};
  const oneOff: Record<string, string[]> = {};
  for (const color of colors) {
    services[color] = await d.compose.colorServices(color);
    oneOff[color] = await d.compose.oneOffServices(color);
    if (oneOff[color].length === services[color].length) {
      throw new ConfigError([
        {
          input: 'color-file',
          value: d.compose.colorFile(color),
          message: `every service of ${color} is a one-off (restart: "no" or bluegreen.one-off): nothing would serve`,
        },
      ]);
    }
  }
  // Compose v1 takes about half a second to answer: both colors are asked at once.
  const found = await Promise.all(colors.map((c) => d.compose.containers(c, services[c] ?? [])));
  const states = Object.fromEntries(colors.map((c, i) => [c, found[i] ?? []]));
  const running = Object.fromEntries(
    colors.map((c) => [c, allRunning(longRunning({ services, oneOff }, c), states[c] ?? [])]),
  );
  const shared = d.compose.separateProjects ? [] : await d.compose.sharedServices();
  const containers = d.proxyContainers();
  const proxies = containers.length ? await d.proxy.inspect(containers) : new Map<string, ProxyState>();
  const includes = [];
  for (const target of d.config.targets) {
    const content = await d.proxy.read(target);
    const reading = d.proxy.reading(content, target, colors, ports);
    if (reading.marker && reading.marker !== reading.color) {
      d.log.warn(
        `${d.proxy.describe(target)} says ${reading.marker} in its marker line but points at ` +
          `${reading.color ?? 'no known color'} (edited by hand?): its content decides.`,
      );
    }
    includes.push({ target, content, color: reading.color, split: reading.split });
  }
  d.result.running = running;
  d.result.proxies = includes.map((i) => ({
    container: i.target.container,
    include: d.proxy.describe(i.target),
    color: i.color,
    ...(i.split ? { split: i.split } : {}),
  }));
  for (const i of includes) {
    const split = i.split && `a canary step's split (${describeSplit(i.split)})`;
    d.log.info(`${d.proxy.describe(i.target)} points at ${split ?? i.color ?? 'no known color'}`);
  }
  return { services, oneOff, states, shared, includes, proxies, running };
}

export function describeSplit(split: Record<string, number>): string {
  return Object.entries(split)
    .map(([color, percent]) => `${color} ${percent}%`)
    .join(', ');
}

/** What detection saw, reduced to what the decision needs. */
export interface LiveInput {
  colors: readonly string[];
  /** Each include, by proxy container, and the color it points at (undefined: none that can be told). */
  pointed: { container: string; color?: string }[];
  /** Whether any container of each color runs. */
  running: Record<string, boolean>;
}

export interface LiveDecision {
  /** The color that serves; undefined for a first deploy. */
  live?: string;
  /** Colors some include points at but none of whose containers runs: not live, worth a warning. */
  idlePointed: string[];
  /** Why no color can be taken for live: nothing may be changed. */
  refused?: string;
}

/**
 * The color that serves: the one the includes point at, if any of its containers runs. A color none of whose
 * containers runs is not live, whatever an include says (a repository commits its include naming the first
 * color): with nothing running, it is a first deploy. With no include telling, the one color that runs is live.
 */
export function decideLive({ colors, pointed, running }: LiveInput): LiveDecision {
  const named = [...new Set(pointed.map((i) => i.color).filter((c): c is string => c !== undefined))];
  const serving = named.filter((c) => running[c]);
  const idlePointed = named.filter((c) => !running[c]);
  if (serving.length > 1) {
    const each = pointed.map((i) => `${i.container} → ${i.color ?? '?'}`).join(', ');
    return {
      idlePointed,
      refused:
        `the proxies disagree on the live color (${each}). ` +
        'Point every include at the color that should serve, reload, and run again.',
    };
  }
  if (serving.length) return { live: serving[0], idlePointed };
  const up = colors.filter((c) => running[c]);
  if (up.length > 1) {
    return {
      idlePointed,
      refused:
        `both ${up.join(' and ')} are running and no proxy include says which one serves. ` +
        'Stop the color that does not serve, or write its include, and run again.',
    };
  }
  return { live: up[0], idlePointed };
}

/** Whether any container of each color runs. */
export function someRunning(
  colors: readonly string[],
  states: Record<string, ContainerState[]>,
): Record<string, boolean> {
  return Object.fromEntries(colors.map((c) => [c, (states[c] ?? []).some((x) => x.running)]));
}

/** A color's services that keep running once started: what "the color runs" is judged by. */
export function longRunning(s: Pick<Situation, 'services' | 'oneOff'>, color: string): string[] {
  const once = s.oneOff[color] ?? [];
  return (s.services[color] ?? []).filter((svc) => !once.includes(svc));
}

/** A color's containers as they were found, its one-offs left out: the color as it serves. */
export function longRunningStates(
  s: Pick<Situation, 'services' | 'oneOff' | 'states'>,
  color: string,
): ContainerState[] {
  const services = longRunning(s, color);
  return (s.states[color] ?? []).filter((c) => services.includes(c.service));
}

/** Whether every service has a running container. */
export function allRunning(services: string[], containers: ContainerState[]): boolean {
  return services.length > 0 && services.every((svc) => containers.some((c) => c.service === svc && c.running));
}
