/**
 * The one list of commands: the CLI, the config schema, the result and the engine's dispatch all read it. A new
 * command is added here, then the compiler points at the engine's dispatch (engine/commands.ts) until it has one.
 */
export const COMMANDS = [
  {
    name: 'deploy',
    help: 'bring up the idle color and switch to it',
    usage: 'bring up the idle color, health-check it, switch the proxies, drain, stop the old color',
  },
  {
    name: 'rollback',
    help: 'switch back to the previous color',
    usage: 'switch back to the previous color while its containers still exist',
  },
  { name: 'status', help: 'report only', usage: 'print the live color, its port and what each proxy points at' },
] as const;

export type Command = (typeof COMMANDS)[number]['name'];
export const COMMAND_NAMES: readonly Command[] = COMMANDS.map((c) => c.name);

/** Every input, its default and a one-line help. action.yml must agree (a test checks it). */
export const INPUTS = [
  { name: 'command', default: 'deploy', help: COMMANDS.map((c) => `${c.name} (${c.help})`).join(', ') },
  {
    name: 'config',
    default: '',
    help: 'config file whose keys are these input names; empty: bluegreen.yml in the working directory, if any',
  },
  { name: 'environment', default: '', help: "which entry of the config file's environments: to lay over it" },
  { name: 'working-directory', default: '.', help: 'where compose files and relative paths are resolved' },
  {
    name: 'compose-files',
    default: 'docker-compose.yml',
    help: 'shared compose file(s), passed before the color file; may be empty',
  },
  {
    name: 'color-file',
    default: 'docker-compose.{color}.yml',
    help: 'per-color compose file, a template with {color}',
  },
  {
    name: 'project-name',
    default: '',
    help: 'compose project (-p); may contain {color} to run each color as its own project',
  },
  {
    name: 'hosts',
    default: '',
    help: 'Docker engines to deploy to together (ssh://, tcp://, unix:// or context names); empty: the local engine',
  },
  { name: 'max-parallel', default: '4', help: 'with several hosts: how many bring up and health-check at once' },
  { name: 'compose-command', default: 'auto', help: 'auto, "docker compose" or docker-compose' },
  {
    name: 'docker-api',
    default: 'auto',
    help: "auto: the engine's API on its local socket for inspect, top, exec, cp, create, rm and ps, reloads signalled from here; off: the docker CLI",
  },
  { name: 'colors', default: 'blue,green', help: 'the two color names' },
  { name: 'ports', default: '8000,8001', help: 'host port of each color, in the same order' },
  { name: 'build', default: 'true', help: 'pass --build to up' },
  { name: 'pull', default: 'false', help: 'pull images before up' },
  {
    name: 'pre-deploy-command',
    default: '',
    help: "run once in a one-off container of the new color's image before it starts (migrations); no shell",
  },
  {
    name: 'pre-deploy-service',
    default: '',
    help: 'color-file service whose image runs pre-deploy-command, may contain {color}; empty: the first one',
  },
  { name: 'pre-deploy-timeout', default: '600', help: 'seconds pre-deploy-command may take' },
  { name: 'health-path', default: '/', help: 'path probed on the new color' },
  { name: 'health-host', default: '127.0.0.1', help: "host the runner uses to reach a color's published port" },
  { name: 'health-headers', default: '', help: 'extra request headers, "Name: value" per line' },
  { name: 'health-status', default: '200-399', help: 'accepted status codes (ranges and lists)' },
  { name: 'health-body', default: '', help: 'text that the response body must contain' },
  { name: 'health-timeout', default: '60', help: 'seconds in all before the new color counts as failed' },
  { name: 'health-interval', default: '1', help: 'seconds between probes (the first probe goes at once)' },
  { name: 'nginx-container', default: '', help: 'proxy container name(s) to switch' },
  { name: 'upstream-file', default: '', help: "include file on the runner's disk, mounted into the proxy" },
  { name: 'upstream-path', default: '', help: 'include path inside the proxy container, written with docker cp' },
  {
    name: 'upstream-template',
    default: 'upstream app {\n    server {host}:{port};\n}\n',
    help: 'include content; placeholders {color}, {port}, {host}',
  },
  { name: 'upstream-host', default: 'localhost', help: 'what {host} becomes' },
  { name: 'nginx-targets', default: '', help: 'YAML list of proxies (container, file or path, template, host)' },
  {
    name: 'verify-proxies',
    default: 'auto',
    help: 'check each proxy on its published port after the switch: auto, required (fail if one cannot be) or off',
  },
  {
    name: 'verify-url',
    default: '',
    help: 'one more URL checked after the switch (e.g. a load balancer); failure rolls back',
  },
  {
    name: 'verify-timeout',
    default: '5',
    help: 'seconds each proxy has, after the switch, to answer from the new color',
  },
  {
    name: 'color-header',
    default: '',
    help: 'response header whose value names the color that answered, e.g. X-Color',
  },
  {
    name: 'pre-switch-command',
    default: '',
    help: 'run on the runner once the new color is healthy, before the switch; failure rolls back',
  },
  {
    name: 'post-switch-command',
    default: '',
    help: 'run on the runner once every proxy serves the new color, before the drain; failure rolls back',
  },
  {
    name: 'post-switch-required',
    default: 'true',
    help: 'false: a failing post-switch-command is only reported, and the deploy goes on',
  },
  {
    name: 'on-failure-command',
    default: '',
    help: 'run on the runner after a failed run has undone what it did; never changes the exit code',
  },
  { name: 'hook-timeout', default: '300', help: 'seconds each runner hook may take' },
  {
    name: 'drain-seconds',
    default: '10',
    help: "at most this long after the switch, until every proxy's old workers are done, before stopping the old color",
  },
  {
    name: 'watch-seconds',
    default: '',
    help: "judge the new color's real traffic in the proxies' access logs this long after the switch (default: drain-seconds)",
  },
  {
    name: 'max-error-rate',
    default: '5',
    help: "percent of the new color's requests that may fail (5xx) during the watch; above it: rolled back",
  },
  { name: 'min-requests', default: '20', help: 'requests the watch needs to judge; with fewer it passes and says so' },
  {
    name: 'max-latency-ms',
    default: '',
    help: "highest p95 of the new color's request time during the watch (needs the README's log format); empty: not judged",
  },
  {
    name: 'canary-steps',
    default: '',
    help: 'percents of traffic sent to the new color, step by step, before all of it, e.g. 10,50; each step is watched',
  },
  { name: 'canary-interval', default: '60', help: 'seconds each canary step lasts, its traffic watched and judged' },
  { name: 'cleanup', default: 'stop', help: 'old color after the drain: stop, down or keep' },
  { name: 'rollback-on-failure', default: 'true', help: 'restore the previous state when any step fails' },
  { name: 'dry-run', default: 'false', help: 'print the plan, change nothing' },
] as const;

export type InputName = (typeof INPUTS)[number]['name'];
export type RawInputs = Partial<Record<string, string>>;

/**
 * What the tool sets in the environment of its children (compose calls, hooks): never read back as an input, so
 * that a hook may run the tool itself.
 */
export const TOOL_ENV = [
  'BLUEGREEN_COLOR',
  'BLUEGREEN_PORT',
  'BLUEGREEN_RUN',
  'BLUEGREEN_HOOK',
  'BLUEGREEN_OPERATION',
  'BLUEGREEN_PREVIOUS_COLOR',
  'BLUEGREEN_PREVIOUS_PORT',
  'BLUEGREEN_STATUS',
  'BLUEGREEN_SERVING',
  'BLUEGREEN_SERVING_KNOWN',
  'BLUEGREEN_EXIT_CODE',
  'BLUEGREEN_ERROR',
] as const;

/** An empty value counts as not given (the default applies), except compose-files, where empty means none. */
export function isGiven(name: string, value: string | undefined): value is string {
  return value !== undefined && (value !== '' || name === 'compose-files');
}

export function defaultOf(name: InputName): string {
  return INPUTS.find((i) => i.name === name)?.default ?? '';
}
