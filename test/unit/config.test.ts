import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, masked } from '../../src/config/config.js';
import { defaultOf, INPUTS, type InputName, type RawInputs } from '../../src/inputs.js';
import type { Files } from '../../src/io.js';
import { FakeFiles } from './fakes.js';

const ROOT = path.resolve('/srv/app');
const DEFAULT_TEMPLATE = 'upstream app {\n    server {host}:{port};\n}\n';

/** The shared in-memory files: the given paths (relative to root unless absolute) are files or directories. */
function fakeFiles({
  root = ROOT,
  files = ['docker-compose.yml', 'docker-compose.blue.yml', 'docker-compose.green.yml'],
  dirs = ['nginx'],
  missing = [],
}: { root?: string; files?: string[]; dirs?: string[]; missing?: string[] } = {}): FakeFiles {
  const at = (p: string) => path.resolve(root, p);
  const gone = new Set(missing.map(at));
  const fake = new FakeFiles(
    Object.fromEntries(
      files
        .map(at)
        .filter((p) => !gone.has(p))
        .map((p) => [p, `# ${p}\n`]),
    ),
  );
  for (const dir of [root, ...dirs.map(at)]) if (!gone.has(dir)) fake.mkdir(dir);
  return fake;
}

const BASE: RawInputs = { 'working-directory': ROOT };

async function rejection(raw: RawInputs, files: Files): Promise<ConfigError> {
  const outcome = await loadConfig(raw, files).then(
    (config) => ({ config }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a ConfigError, got ${JSON.stringify(outcome.config)}`);
  expect(outcome.error).toBeInstanceOf(ConfigError);
  return outcome.error as ConfigError;
}

interface BadCase {
  what: string;
  /** Only what differs from BASE. */
  raw: RawInputs;
  input: string;
  message: RegExp;
  /** The value quoted in the error; by default the raw value of the input, or its default. */
  value?: string;
  /** Paths (relative to the working directory) that do not exist for this case. */
  missing?: string[];
}

const TARGETS_AND_CONTAINER = '- container: proxy\n  file: nginx/upstream.inc\n';
const TARGETS_UNKNOWN_KEY = '- container: proxy\n  file: nginx/upstream.inc\n  colour: blue\n';
const TARGETS_FILE_AND_PATH =
  '- container: proxy\n  file: nginx/upstream.inc\n  path: /etc/nginx/conf.d/upstream.inc\n';

const BAD: BadCase[] = [
  { what: 'equal ports', raw: { ports: '8000,8000' }, input: 'ports', message: /different ports/ },
  { what: 'equal colors', raw: { colors: 'blue,blue' }, input: 'colors', message: /must differ/ },
  { what: 'port 0', raw: { ports: '0,8001' }, input: 'ports', message: /"0" is not a port/ },
  { what: 'port 70000', raw: { ports: '8000,70000' }, input: 'ports', message: /"70000" is not a port.*1 to 65535/ },
  { what: 'port abc', raw: { ports: 'abc,8001' }, input: 'ports', message: /"abc" is not a port/ },
  { what: 'three ports', raw: { ports: '8000,8001,8002' }, input: 'ports', message: /exactly two ports.*got 3/ },
  {
    what: 'color with a semicolon',
    raw: { colors: 'blue;,green' },
    input: 'colors',
    message: /"blue;" is not allowed/,
  },
  { what: 'one color only', raw: { colors: 'blue' }, input: 'colors', message: /exactly two names.*got 1/ },
  {
    what: 'upstream-host with }',
    raw: { 'nginx-container': 'proxy', 'upstream-file': 'nginx/upstream.inc', 'upstream-host': 'localhost}' },
    input: 'upstream-host',
    message: /host name or IP address/,
  },
  {
    what: 'upstream-host with a space',
    raw: { 'upstream-host': 'local host' },
    input: 'upstream-host',
    message: /host name/,
  },
  { what: 'health-host with a slash', raw: { 'health-host': 'a/b' }, input: 'health-host', message: /host name/ },
  { what: 'health-host 256.0.0.1', raw: { 'health-host': '256.0.0.1' }, input: 'health-host', message: /host name/ },
  {
    what: 'health-host app.1 (read as an IP address)',
    raw: { 'health-host': 'app.1' },
    input: 'health-host',
    message: /host name/,
  },
  {
    what: 'health-status abc',
    raw: { 'health-status': 'abc' },
    input: 'health-status',
    message: /status codes 100-599/,
  },
  {
    what: 'health-status 600',
    raw: { 'health-status': '600' },
    input: 'health-status',
    message: /status codes 100-599/,
  },
  {
    what: 'health-status 300-200',
    raw: { 'health-status': '300-200' },
    input: 'health-status',
    message: /status codes/,
  },
  {
    what: 'missing compose file',
    raw: {},
    missing: ['docker-compose.yml'],
    input: 'compose-files',
    message: new RegExp(`no such file: ${escape(path.join(ROOT, 'docker-compose.yml'))}`),
  },
  {
    what: 'missing color file for green',
    raw: {},
    missing: ['docker-compose.green.yml'],
    input: 'color-file',
    message: /no such file for color green: .*docker-compose\.green\.yml/,
  },
  {
    what: 'missing working directory',
    raw: { 'working-directory': '/nowhere' },
    input: 'working-directory',
    message: /no such directory/,
  },
  {
    what: 'both upstream-file and upstream-path',
    raw: {
      'nginx-container': 'proxy',
      'upstream-file': 'nginx/upstream.inc',
      'upstream-path': '/etc/nginx/conf.d/up.inc',
    },
    input: 'upstream-path',
    message: /exactly one of upstream-file .* or upstream-path/,
  },
  {
    what: 'nginx-container without upstream-file or upstream-path',
    raw: { 'nginx-container': 'proxy' },
    input: 'upstream-file',
    value: '',
    message: /exactly one of upstream-file/,
  },
  {
    what: 'upstream-file without nginx-container',
    raw: { 'upstream-file': 'nginx/upstream.inc' },
    input: 'nginx-container',
    value: '',
    message: /needs the proxy container/,
  },
  {
    what: 'upstream-file in a missing directory',
    raw: { 'nginx-container': 'proxy', 'upstream-file': 'conf/upstream.inc' },
    input: 'upstream-file',
    value: path.join(ROOT, 'conf/upstream.inc'),
    message: /no such directory for the include/,
  },
  {
    what: 'nginx-container with a bad name',
    raw: { 'nginx-container': '-proxy', 'upstream-file': 'nginx/upstream.inc' },
    input: 'nginx-container',
    message: /"-proxy" is not a container name/,
  },
  {
    what: 'nginx-targets together with nginx-container',
    raw: { 'nginx-targets': TARGETS_AND_CONTAINER, 'nginx-container': 'proxy' },
    input: 'nginx-targets',
    message: /either nginx-targets or nginx-container/,
  },
  {
    what: 'nginx-targets not YAML',
    raw: { 'nginx-targets': '- container: [proxy\n' },
    input: 'nginx-targets',
    message: /not valid YAML/,
  },
  {
    what: 'nginx-targets not a list',
    raw: { 'nginx-targets': 'container: proxy\nfile: nginx/upstream.inc\n' },
    input: 'nginx-targets',
    message: /a YAML list of/,
  },
  {
    what: 'nginx-targets entry with an unknown key',
    raw: { 'nginx-targets': TARGETS_UNKNOWN_KEY },
    input: 'nginx-targets',
    message: /at 0: .*colour/,
  },
  {
    what: 'nginx-targets entry without container',
    raw: { 'nginx-targets': '- file: nginx/upstream.inc\n' },
    input: 'nginx-targets',
    message: /at 0\.container/,
  },
  {
    what: 'nginx-targets entry with both file and path',
    raw: { 'nginx-targets': TARGETS_FILE_AND_PATH },
    input: 'nginx-targets',
    message: /proxy proxy: give exactly one of/,
  },
  {
    what: 'nginx-targets entry with a relative path',
    raw: { 'nginx-targets': '- container: proxy\n  path: conf.d/upstream.inc\n' },
    input: 'nginx-targets',
    value: 'conf.d/upstream.inc',
    message: /absolute file path/,
  },
  {
    what: 'nginx-targets entry with a bad host',
    raw: { 'nginx-targets': '- container: proxy\n  file: nginx/upstream.inc\n  host: "a;b"\n' },
    input: 'nginx-targets',
    value: 'a;b',
    message: /host must be a host name/,
  },
  {
    what: 'nginx-targets entry template with {prot}',
    raw: { 'nginx-targets': '- container: proxy\n  file: nginx/upstream.inc\n  template: "server {host}:{prot};"\n' },
    input: 'nginx-targets',
    value: 'server {host}:{prot};',
    message: /unknown placeholder \{prot\}/,
  },
  {
    what: 'upstream-template with {prot}',
    raw: { 'upstream-template': 'upstream app { server {host}:{prot}; }' },
    input: 'upstream-template',
    message: /unknown placeholder \{prot\}; allowed: \{color\}, \{port\}, \{host\}/,
  },
  {
    what: 'color-file with {port}',
    raw: { 'color-file': 'docker-compose.{port}.yml' },
    input: 'color-file',
    message: /unknown placeholder \{port\}; allowed: \{color\}$/,
  },
  {
    what: 'upstream-path relative',
    raw: { 'nginx-container': 'proxy', 'upstream-path': 'etc/nginx/conf.d/up.inc' },
    input: 'upstream-path',
    message: /absolute file path/,
  },
  {
    what: 'health-path without /',
    raw: { 'health-path': 'health' },
    input: 'health-path',
    message: /starting with \//,
  },
  { what: 'health-path with a space', raw: { 'health-path': '/a b' }, input: 'health-path', message: /no spaces/ },
  {
    what: 'health-headers line without colon',
    raw: { 'health-headers': 'Accept: text/html\nHost example.com' },
    input: 'health-headers',
    message: /line 2 is not a header line/,
  },
  { what: 'health-timeout 0', raw: { 'health-timeout': '0' }, input: 'health-timeout', message: /from 0\.001/ },
  {
    what: 'health-interval that rounds to 0 ms',
    raw: { 'health-interval': '0.0001' },
    input: 'health-interval',
    message: /from 0\.001/,
  },
  {
    what: 'a template that renders the same for both colors (the seed include pasted as is)',
    raw: {
      'nginx-container': 'proxy',
      'upstream-path': '/etc/nginx/conf.d/app.inc',
      'upstream-template': 'upstream app { server app-blue:8000; }',
    },
    input: 'upstream-template',
    message: /must contain \{color\} or \{port\}.*a switch would change nothing/,
  },
  {
    what: 'a template whose only {color} is in a comment (Nginx reads the same for both colors)',
    raw: {
      'nginx-container': 'proxy',
      'upstream-path': '/etc/nginx/conf.d/app.inc',
      'upstream-template': '# app {color}\nupstream app { server app:8000; }',
    },
    input: 'upstream-template',
    message: /where Nginx reads it \(not only in a comment\).*a switch would change nothing/,
  },
  {
    what: 'a template whose only {color} is an Nginx variable ${color}',
    raw: { 'nginx-targets': "- container: edge\n  path: /etc/nginx/x.inc\n  template: 'set $u http://${color}:8000;'" },
    input: 'nginx-targets',
    value: 'set $u http://${color}:8000;',
    message: /must contain \{color\} or \{port\}/,
  },
  {
    what: 'a one-letter container name',
    raw: { 'nginx-container': 'p', 'upstream-path': '/etc/nginx/conf.d/app.inc' },
    input: 'nginx-container',
    message: /not a container name/,
  },
  {
    what: 'a header value that is not ASCII',
    raw: { 'health-headers': 'X-Token: café' },
    input: 'health-headers',
    message: /printable ASCII/,
  },
  { what: 'health-timeout 1h+', raw: { 'health-timeout': '3601' }, input: 'health-timeout', message: /to 3600/ },
  {
    what: 'health-interval above health-timeout',
    raw: { 'health-timeout': '10', 'health-interval': '30' },
    input: 'health-interval',
    message: /must not exceed health-timeout \(10 s\)/,
  },
  {
    what: 'drain-seconds -1',
    raw: { 'drain-seconds': '-1' },
    input: 'drain-seconds',
    message: /seconds, from 0 to 3600/,
  },
  { what: 'cleanup delete', raw: { cleanup: 'delete' }, input: 'cleanup', message: /allowed: stop, down, keep/ },
  {
    what: 'command destroy',
    raw: { command: 'destroy' },
    input: 'command',
    message: /allowed: deploy, rollback, status/,
  },
  { what: 'build yes', raw: { build: 'yes' }, input: 'build', message: /allowed: true or false/ },
  { what: 'dry-run 1', raw: { 'dry-run': '1' }, input: 'dry-run', message: /allowed: true or false/ },
  {
    what: 'verify-url ftp://x',
    raw: { 'verify-url': 'ftp://x' },
    input: 'verify-url',
    message: /http:\/\/ or https:\/\//,
  },
  {
    what: 'verify-url port 99999',
    raw: { 'verify-url': 'http://proxy:99999/' },
    input: 'verify-url',
    message: /http:\/\/ or https/,
  },
  {
    what: 'verify-url with two ports',
    raw: { 'verify-url': 'http://a:80:80/' },
    input: 'verify-url',
    message: /http:\/\/ or https/,
  },
  {
    what: 'compose-command podman',
    raw: { 'compose-command': 'podman' },
    input: 'compose-command',
    message: /allowed: auto, docker compose, docker-compose/,
  },
  {
    what: 'project-name with upper case',
    raw: { 'project-name': 'MyApp' },
    input: 'project-name',
    message: /lower-case/,
  },
  {
    what: 'project-name without {color} and color-file without {color}',
    raw: { 'project-name': 'shop', 'color-file': 'docker-compose.color.yml' },
    missing: [],
    input: 'color-file',
    message: /both colors would share one file/,
  },
  {
    what: 'an unknown input name',
    raw: { 'health-timout': '5' },
    input: 'health-timout',
    value: '5',
    message: /unknown input/,
  },
];

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('loadConfig rejects bad configurations', () => {
  it('accepts the base configuration the bad ones differ from', async () => {
    const config = await loadConfig(BASE, fakeFiles());
    expect(config.workingDirectory).toBe(ROOT);
  });

  it.each(BAD)('$what', async ({ raw, input, message, value, missing }) => {
    const files = fakeFiles({
      missing,
      // The case "project-name without {color}" needs its color file to be the one named.
      files: ['docker-compose.yml', 'docker-compose.blue.yml', 'docker-compose.green.yml', 'docker-compose.color.yml'],
    });
    const error = await rejection({ ...BASE, ...raw }, files);
    const issue = error.issues.find((i) => i.input === input && message.test(i.message));
    expect(issue, `issues were: ${JSON.stringify(error.issues, null, 2)}`).toBeDefined();
    const quoted = value ?? raw[input] ?? defaultOf(input as InputName);
    expect(issue?.value).toBe(quoted);
    // What may hold a credential is masked in the message (see config-sources.test.ts).
    expect(error.message).toContain(`${input} = ${JSON.stringify(masked(input, quoted))}:`);
    expect(error.message).toMatch(/^Invalid configuration; nothing was changed/);
    expect(error.name).toBe('ConfigError');
  });

  it('reports every bad input at once, not only the first', async () => {
    const error = await rejection({ ...BASE, ports: '1,1', cleanup: 'x', build: 'maybe' }, fakeFiles());
    expect(error.issues.map((i) => i.input).sort()).toEqual(['build', 'cleanup', 'ports']);
  });
});

describe('loadConfig accepts good configurations', () => {
  it('gives the documented typed defaults', async () => {
    const cwd = process.cwd();
    const config = await loadConfig({}, fakeFiles({ root: cwd, dirs: [] }));
    expect(config).toEqual({
      command: 'deploy',
      workingDirectory: cwd,
      composeFiles: ['docker-compose.yml'],
      colorFile: 'docker-compose.{color}.yml',
      projectName: '',
      composeCommand: 'auto',
      hosts: [],
      maxParallel: 4,
      dockerApi: 'auto',
      colors: ['blue', 'green'],
      ports: [8000, 8001],
      build: true,
      pull: false,
      health: {
        path: '/',
        host: '127.0.0.1',
        headers: {},
        statuses: [{ from: 200, to: 399 }],
        body: '',
        timeoutMs: 60_000,
        intervalMs: 1_000,
      },
      preDeploy: { command: [], service: '', timeoutMs: 600_000 },
      hooks: { preSwitch: [], postSwitch: [], onFailure: [], timeoutMs: 300_000, postSwitchRequired: true },
      targets: [],
      verifyProxies: 'auto',
      verifyUrl: '',
      verifyTimeoutMs: 5_000,
      colorHeader: '',
      drainMs: 10_000,
      watch: { ms: undefined, maxErrorRate: 5, minRequests: 20, maxLatencyMs: undefined },
      canary: { steps: [], intervalMs: 60_000 },
      cleanup: 'stop',
      rollbackOnFailure: true,
      dryRun: false,
    });
  });

  it('gives the default template to a single proxy', async () => {
    const config = await loadConfig(
      { ...BASE, 'nginx-container': 'proxy', 'upstream-file': 'nginx/upstream.inc' },
      fakeFiles(),
    );
    expect(config.targets).toEqual([
      {
        container: 'proxy',
        file: path.join(ROOT, 'nginx/upstream.inc'),
        path: undefined,
        template: DEFAULT_TEMPLATE,
        host: 'localhost',
      },
    ]);
    expect(INPUTS.find((i) => i.name === 'upstream-template')?.default).toBe(DEFAULT_TEMPLATE);
  });

  it('turns a literal \\n into a newline in templates only, never in a file name (a Windows path like deploy\\new)', async () => {
    const colorFile = 'deploy\\new-{color}.yml';
    const config = await loadConfig(
      {
        ...BASE,
        'color-file': colorFile,
        'nginx-container': 'proxy',
        'upstream-file': 'nginx/upstream.inc',
        'upstream-template': 'upstream app {\\n  server {host}:{port};\\n}',
      },
      fakeFiles({ files: ['docker-compose.yml', 'deploy\\new-blue.yml', 'deploy\\new-green.yml'] }),
    );
    expect(config.colorFile).toBe(colorFile);
    expect(config.targets[0]?.template).toBe('upstream app {\n  server {host}:{port};\n}');
  });

  it('types the other inputs', async () => {
    const config = await loadConfig(
      {
        ...BASE,
        command: 'rollback',
        build: 'FALSE',
        pull: 'True',
        'health-status': '200-299, 301,404',
        'health-headers': 'Host: shop.example.com\r\nX-Check:  a: b \n\n',
        'health-timeout': '2.5',
        'health-interval': '0.25',
        'drain-seconds': '0',
        cleanup: 'down',
        'verify-url': 'https://shop.example.com/api/v1/test?x=1',
        'compose-command': 'docker compose',
        'project-name': 'shop-{color}',
        'color-file': 'compose.yml',
      },
      fakeFiles({ files: ['docker-compose.yml', 'compose.yml'] }),
    );
    expect(config.command).toBe('rollback');
    expect(config.build).toBe(false);
    expect(config.pull).toBe(true);
    expect(config.health.statuses).toEqual([
      { from: 200, to: 299 },
      { from: 301, to: 301 },
      { from: 404, to: 404 },
    ]);
    expect(config.health.headers).toEqual({ Host: 'shop.example.com', 'X-Check': 'a: b' });
    expect(config.health.timeoutMs).toBe(2500);
    expect(config.health.intervalMs).toBe(250);
    expect(config.drainMs).toBe(0);
    expect(config.cleanup).toBe('down');
    expect(config.composeCommand).toBe('docker compose');
    expect(config.projectName).toBe('shop-{color}');
  });

  it.each([
    [
      'newlines',
      { colors: 'blue\ngreen', ports: '9000\n9001', 'compose-files': 'base.yml\ndb.yml', 'nginx-container': 'p1\np2' },
    ],
    [
      'commas',
      { colors: 'blue,green', ports: '9000,9001', 'compose-files': 'base.yml,db.yml', 'nginx-container': 'p1,p2' },
    ],
    [
      'commas, blanks and empty entries',
      {
        colors: ' blue , green ,',
        ports: ' 9000 ,\n 9001\n',
        'compose-files': '\nbase.yml,\n db.yml\n',
        'nginx-container': 'p1,\n,p2',
      },
    ],
  ])('splits lists given with %s', async (_, raw) => {
    const config = await loadConfig(
      { ...BASE, ...raw, 'upstream-path': '/etc/nginx/conf.d/up.inc' },
      fakeFiles({ files: ['base.yml', 'db.yml', 'docker-compose.blue.yml', 'docker-compose.green.yml'] }),
    );
    expect(config.colors).toEqual(['blue', 'green']);
    expect(config.ports).toEqual([9000, 9001]);
    expect(config.composeFiles).toEqual(['base.yml', 'db.yml']);
    expect(config.targets.map((t) => t.container)).toEqual(['p1', 'p2']);
  });

  it.each([
    ['empty', ''],
    ['undefined', undefined],
  ])("takes compose-files: '' for no shared file, and other %s inputs for the default", async (_, empty) => {
    const raw: RawInputs = { ...BASE, 'compose-files': '' };
    for (const input of INPUTS) {
      if (input.name !== 'compose-files' && input.name !== 'working-directory') raw[input.name] = empty;
    }
    // No docker-compose.yml: with compose-files empty, it is not looked for.
    const config = await loadConfig(raw, fakeFiles({ missing: ['docker-compose.yml'] }));
    expect(config.composeFiles).toEqual([]);
    expect(config.command).toBe('deploy');
    expect(config.colors).toEqual(['blue', 'green']);
    expect(config.ports).toEqual([8000, 8001]);
    expect(config.colorFile).toBe('docker-compose.{color}.yml');
    expect(config.health.statuses).toEqual([{ from: 200, to: 399 }]);
    expect(config.health.timeoutMs).toBe(60_000);
    expect(config.health.host).toBe('127.0.0.1');
    expect(config.build).toBe(true);
    expect(config.cleanup).toBe('stop');
    expect(config.drainMs).toBe(10_000);
  });

  it("reads the seed's two-proxy layout from nginx-targets", async () => {
    const targets = [
      '- container: nginx',
      '  file: nginx/service-url.inc',
      '- container: test-nginx',
      '  path: /etc/nginx/conf.d/test-backend/service-url.inc',
      '  template: set $service_url http://{host}:{port};',
      '  host: 10.0.0.5',
      '',
    ].join('\n');
    const config = await loadConfig({ ...BASE, 'nginx-targets': targets }, fakeFiles());
    expect(config.targets).toEqual([
      {
        container: 'nginx',
        file: path.join(ROOT, 'nginx', 'service-url.inc'),
        path: undefined,
        template: DEFAULT_TEMPLATE,
        host: 'localhost',
      },
      {
        container: 'test-nginx',
        file: undefined,
        path: '/etc/nginx/conf.d/test-backend/service-url.inc',
        template: 'set $service_url http://{host}:{port};',
        host: '10.0.0.5',
      },
    ]);
    expect(path.isAbsolute(config.targets[0]?.file ?? '')).toBe(true);
  });

  it('a target without its own host or template takes upstream-host and upstream-template', async () => {
    const config = await loadConfig(
      {
        ...BASE,
        'nginx-targets':
          '- container: pa\n  path: /etc/nginx/a.inc\n- container: pb\n  path: /etc/nginx/b.inc\n  host: app-b\n',
        'upstream-host': 'app.internal',
        'upstream-template': 'server {host}:{port};',
      },
      fakeFiles(),
    );
    expect(config.targets.map((t) => [t.host, t.template])).toEqual([
      ['app.internal', 'server {host}:{port};'],
      ['app-b', 'server {host}:{port};'],
    ]);
  });

  it('turns a literal \\n in an nginx-targets template into a newline', async () => {
    const config = await loadConfig(
      {
        ...BASE,
        'nginx-targets': "- container: proxy\n  path: /etc/nginx/up.inc\n  template: 'a {port};\\nb {host};'\n",
      },
      fakeFiles(),
    );
    expect(config.targets[0]?.template).toBe('a {port};\nb {host};');
  });

  it('does not take ${var} (Nginx variable syntax) for a placeholder', async () => {
    const template = 'set ${backend} http://{host}:{port};\\nproxy_set_header X-Color ${color_hdr};';
    const config = await loadConfig(
      {
        ...BASE,
        'nginx-container': 'proxy',
        'upstream-path': '/etc/nginx/conf.d/up.inc',
        'upstream-template': template,
      },
      fakeFiles(),
    );
    expect(config.targets[0]?.template).toBe(
      'set ${backend} http://{host}:{port};\nproxy_set_header X-Color ${color_hdr};',
    );
    const targets = await loadConfig(
      {
        ...BASE,
        'nginx-targets': '- container: proxy\n  path: /etc/nginx/up.inc\n  template: "set ${prot} {port};"\n',
      },
      fakeFiles(),
    );
    expect(targets.targets[0]?.template).toBe('set ${prot} {port};');
  });

  it('accepts IPv6 hosts in brackets and relative paths resolved against the working directory', async () => {
    const config = await loadConfig(
      {
        'working-directory': path.relative(process.cwd(), ROOT),
        'health-host': '[::1]',
        'upstream-host': '[fd00::5]',
        'nginx-container': 'proxy',
        'upstream-file': './nginx/../nginx/up.inc',
      },
      fakeFiles(),
    );
    expect(config.workingDirectory).toBe(ROOT);
    expect(config.health.host).toBe('[::1]');
    expect(config.targets[0]?.host).toBe('[fd00::5]');
    expect(config.targets[0]?.file).toBe(path.join(ROOT, 'nginx', 'up.inc'));
  });
});
