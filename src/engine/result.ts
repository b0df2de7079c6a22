import type { Command } from '../inputs.js';
import type { JournalPhase } from '../docker/journal.js';

export type Status = 'deployed' | 'rolled-back' | 'unchanged' | 'planned' | 'failed';

/** 0 success; 1 failed, traffic left where it was; 2 invalid input, nothing changed; 3 failed and not restored. */
export type ExitCode = 0 | 1 | 2 | 3;

export interface Phase {
  name: string;
  ms: number;
  ok: boolean;
}

export type HookName = 'pre-deploy' | 'pre-switch' | 'post-switch' | 'on-failure';

/** One of the user's commands (pre-deploy-command, the runner hooks), as it ran. */
export interface HookView {
  name: HookName;
  /** The command line, its words quoted where needed. */
  command: string;
  ok: boolean;
  /** Absent when it could not start or was ended. */
  exitCode?: number;
  timedOut?: boolean;
  ms: number;
  /** Its last output lines. */
  output?: string;
}

/** What one color answered through the proxies during a step of the watch. */
export interface ColorTraffic {
  requests: number;
  /** Answered 5xx, by the proxy or by the color. */
  errors: number;
  /** Percent of requests; null without requests. */
  errorRate: number | null;
  /** p95 of the request time, when the log tells it. */
  p95Ms: number | null;
}

/** A stretch of the watch with one share of traffic on the new color (100: after the switch). */
export interface TrafficStep {
  /** `canary 10%`, ..., `after the switch`. */
  name: string;
  percent: number;
  /** When it began (ISO 8601), and how long it lasted. */
  startedAt: string;
  ms: number;
  colors: Record<string, ColorTraffic>;
  verdict: Exclude<TrafficVerdict, 'skipped'>;
  detail: string;
}

export interface WatchedProxy {
  container: string;
  /** Its access log was read and holds requests since the switch. */
  watched: boolean;
  /** combined: every request counts for the new color; bluegreen (the README's format): by its upstream. */
  format: 'combined' | 'bluegreen' | null;
  /** Access-log lines read since the switch, the tool's own requests included. */
  lines: number;
  note: string;
}

export type TrafficVerdict = 'passed' | 'failed' | 'too few requests' | 'not watched' | 'skipped';

/** The watch of real traffic after the switch, while the old color still runs. */
export interface TrafficView {
  verdict: TrafficVerdict;
  /** One line: the figures, or why there are none. */
  detail: string;
  /** The color judged: the new one. */
  color: string;
  /** The new color's figures over every step. */
  requests: number;
  errors: number;
  errorRate: number | null;
  p95Ms: number | null;
  /** How long the steps lasted in all. */
  windowMs: number;
  steps: TrafficStep[];
  proxies: WatchedProxy[];
}

export interface ProxyView {
  container: string;
  /** With several hosts: the host it runs on. */
  host?: string;
  include: string;
  /** The color the include points at, when it can be told. */
  color?: string;
  /** A canary step's split of the requests that the include holds: each color's percent. */
  split?: Record<string, number>;
  /** How the proxy was checked after the switch, or why it could not be. */
  verified?: string;
  /** The URL it was checked at. */
  checkedAt?: string;
}

export interface Result {
  command: Command;
  status: Status;
  exitCode: ExitCode;
  /** The color that serves traffic when the run ends. */
  color?: string;
  port?: number;
  /** The color that served traffic when the run began. */
  previousColor?: string;
  previousPort?: number;
  /** The color this run brought up (deploy) or back (rollback). */
  targetColor?: string;
  rolledBack: boolean;
  durationMs: number;
  phases: Phase[];
  proxies: ProxyView[];
  running: Record<string, boolean>;
  plan: string[];
  /** How verify-url answered after the switch. */
  verifyUrl?: string;
  error?: string;
  logTail?: string;
  /** What real traffic showed after the switch: deploy and rollback, once the proxies were switched. */
  traffic?: TrafficView;
  /** How the old color's drain ended: when every proxy was done with its requests, or at drain-seconds. */
  drain?: DrainView;
  /** The user's commands that ran (pre-deploy-command, hooks), in order. */
  hooks: HookView[];
  /** status: the deploy locks held now on the engine, and by whom. */
  locks?: LockView[];
  /** A deploy that did not finish (its process died, or it could not restore), as found when this run began. */
  interrupted?: InterruptedView;
  /** With several hosts (the input hosts): each host's own result, in the order of hosts. */
  hosts?: HostResult[];
}

/** One host's run among several: its result, named. */
export interface HostResult extends Result {
  host: string;
  /** Its engine, as DOCKER_HOST or a context names it. */
  docker: string;
}

export interface DrainView {
  ms: number;
  ended: 'drained' | 'bound';
  why: string;
}

export interface InterruptedView {
  command: string;
  pid: number;
  host: string;
  user: string;
  since: string;
  /** The step it was in (see JournalPhase), recorded at `at`. */
  phase: JournalPhase;
  at: string;
  from?: string;
  to: string;
  /** status, dry-run: the run may still be under way (its process runs, or runs on another host). */
  underWay?: boolean;
  /** What this run did about it, or (status, dry-run) what the next deploy or rollback will do. */
  action: string;
  /**
   * The color that serves once it was dealt with (deploy, rollback), or that the proxies load now (status,
   * dry-run: nothing was dealt with), when known.
   */
  serving?: string;
  /** Child processes of that run that were still running, and that this run ended. */
  orphans: number[];
}

export interface LockView {
  key: string;
  pid: number;
  host: string;
  user: string;
  since: string;
  command: string;
}

/** A run that failed before it found anything: where every Result starts. */
export function failedResult(command: Command, exitCode: ExitCode): Result {
  return {
    command,
    status: 'failed',
    exitCode,
    rolledBack: false,
    durationMs: 0,
    phases: [],
    proxies: [],
    running: {},
    plan: [],
    hooks: [],
  };
}
