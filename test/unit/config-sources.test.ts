import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { closest, configTable, envName, resolveInputs, type SourceOptions } from '../../src/config/sources.js';
import { INPUTS, type InputName } from '../../src/inputs.js';
import { runCommand } from '../../src/main.js';
import { FakeFiles, RecordingLogger, refusal } from './fakes.js';

const ROOT = path.resolve('/srv/app');
const FILE = path.join(ROOT, 'bluegreen.yml');

function project(config?: string, at = FILE): FakeFiles {
  const files = new FakeFiles({
    [path.join(ROOT, 'docker-compose.yml')]: '',
    [path.join(ROOT, 'docker-compose.blue.yml')]: '',
    [path.join(ROOT, 'docker-compose.green.yml')]: '',
  });
  files.mkdir(path.join(ROOT, 'nginx'));
  if (config !== undefined) files.put(at, config);
  return files;
}

function options(overrides: Partial<SourceOptions> & { files: FakeFiles }): SourceOptions {
  return { given: {}, givenAs: 'flag', env: {}, cwd: ROOT, ...overrides };
}

const FULL_FILE = [
  'ports: [9000, 9001]',
  'drain-seconds: 30',
  'health-path: /file',
  'cleanup: down',
  'environments:',
  '  production:',
  '    drain-seconds: 60',
  '    health-path: /production',
  '',
].join('\n');

describe('where each value comes from: flag > env > environments.<name> > file > default', () => {
  const env = { BLUEGREEN_HEALTH_PATH: '/env', BLUEGREEN_CLEANUP: 'keep' };
  const given = { 'health-path': '/flag' };

  it('each layer wins over the ones below it, and says so', async () => {
    const layered = await resolveInputs(
      options({ files: project(FULL_FILE), given, env: { ...env, BLUEGREEN_ENVIRONMENT: 'production' } }),
    );
    expect(layered.raw).toMatchObject({
      'health-path': '/flag',
      cleanup: 'keep',
      'drain-seconds': '60',
      ports: '9000,9001',
      environment: 'production',
    });
    expect(layered.raw['health-timeout']).toBeUndefined();
    expect(layered.sources['health-path']).toEqual({ kind: 'flag', label: 'flag --health-path' });
    expect(layered.sources.cleanup).toEqual({ kind: 'env', label: 'env BLUEGREEN_CLEANUP' });
    expect(layered.sources['drain-seconds']).toEqual({
      kind: 'environment',
      label: 'bluegreen.yml, environments.production',
    });
    expect(layered.sources.ports).toEqual({ kind: 'file', label: 'bluegreen.yml' });
    expect(layered.sources['health-timeout']).toBeUndefined();
    expect(layered.file).toBe(FILE);
    expect(layered.environment).toBe('production');
    const config = await loadConfig({ ...layered.raw, 'working-directory': ROOT }, project(FULL_FILE), layered.sources);
    expect(config).toMatchObject({ ports: [9000, 9001], drainMs: 60_000, cleanup: 'keep', health: { path: '/flag' } });
  });

  it.each([
    ['flag', { given, env }, '/flag'],
    ['env', { env }, '/env'],
    ['environments.production', { env: { BLUEGREEN_ENVIRONMENT: 'production' } }, '/production'],
    ['the file', {}, '/file'],
  ] as const)('health-path from %s when nothing stronger gives it', async (_, layers, expected) => {
    const layered = await resolveInputs(options({ ...layers, files: project(FULL_FILE) }));
    expect(layered.raw['health-path']).toBe(expected);
  });

  it('without a file, the defaults; an action input is named as an input', async () => {
    const layered = await resolveInputs(options({ given: { ports: '1,2' }, givenAs: 'input', files: project() }));
    expect(layered.file).toBeUndefined();
    expect(layered.sources).toEqual({ ports: { kind: 'input', label: 'input ports' } });
    expect((await loadConfig({ ...layered.raw, 'working-directory': ROOT }, project())).drainMs).toBe(10_000);
  });

  it('an empty flag or variable counts as not given, except compose-files, where empty means no shared file', async () => {
    const layered = await resolveInputs(
      options({
        given: { 'drain-seconds': '', 'compose-files': '' },
        env: { BLUEGREEN_CLEANUP: '' },
        files: project(FULL_FILE),
      }),
    );
    expect(layered.raw).toMatchObject({ 'drain-seconds': '30', cleanup: 'down', 'compose-files': '' });
    expect(layered.sources['compose-files']?.kind).toBe('flag');
  });

  it('the file is bluegreen.yml of the working directory named by a flag or a variable, or --config', async () => {
    const elsewhere = path.resolve('/srv/other');
    const files = project('ports: 7000,7001\n', path.join(elsewhere, 'bluegreen.yml'));
    const byFlag = await resolveInputs(options({ given: { 'working-directory': elsewhere }, files }));
    expect(byFlag.raw.ports).toBe('7000,7001');
    const byEnv = await resolveInputs(options({ env: { BLUEGREEN_WORKING_DIRECTORY: elsewhere }, files }));
    expect(byEnv.file).toBe(path.join(elsewhere, 'bluegreen.yml'));
    expect((await resolveInputs(options({ files }))).file).toBeUndefined();
    const named = await resolveInputs(options({ given: { config: '../other/bluegreen.yml' }, files }));
    expect(named.file).toBe(path.join(elsewhere, 'bluegreen.yml'));
  });

  it("relative paths are the file's: its working-directory, and its directory when none is named", async () => {
    const dir = path.resolve('/srv/deploy');
    const implied = await resolveInputs(
      options({ given: { config: dir + '/bluegreen.yml' }, files: project('ports: 1,2\n', dir + '/bluegreen.yml') }),
    );
    expect(implied.raw['working-directory']).toBe(dir);
    expect(implied.sources['working-directory']?.label).toBe(`the directory of ${dir}${path.sep}bluegreen.yml`);
    const relative = await resolveInputs(
      options({
        given: { config: dir + '/bluegreen.yml' },
        files: project('working-directory: ../app\n', dir + '/bluegreen.yml'),
      }),
    );
    expect(relative.raw['working-directory']).toBe(ROOT);
    const flagWins = await resolveInputs(
      options({
        given: { config: dir + '/bluegreen.yml', 'working-directory': 'x' },
        files: project('working-directory: ../app\n', dir + '/bluegreen.yml'),
      }),
    );
    expect(flagWins.raw['working-directory']).toBe('x');
  });

  it('YAML lists, numbers, booleans, a header map and nginx-targets as a list become what the inputs hold', async () => {
    const file = [
      'compose-files: [docker-compose.yml]',
      'colors: [blue, green]',
      'ports: [8000, 8001]',
      'build: false',
      'health-timeout: 2.5',
      'health-status: [200-299, 301]',
      'health-headers: { Host: api.example.com, X-Token: abc }',
      'nginx-targets:',
      '  - container: proxy',
      '    file: nginx/upstream.inc',
      '    template: "upstream app { server app-{color}:{port}; }"',
      '',
    ].join('\n');
    const files = project(file);
    const layered = await resolveInputs(options({ files }));
    const config = await loadConfig({ ...layered.raw, 'working-directory': ROOT }, files, layered.sources);
    expect(config).toMatchObject({
      composeFiles: ['docker-compose.yml'],
      colors: ['blue', 'green'],
      ports: [8000, 8001],
      build: false,
      health: {
        timeoutMs: 2500,
        statuses: [
          { from: 200, to: 299 },
          { from: 301, to: 301 },
        ],
        headers: { Host: 'api.example.com', 'X-Token': 'abc' },
      },
    });
    expect(config.targets).toEqual([
      expect.objectContaining({ container: 'proxy', file: path.join(ROOT, 'nginx/upstream.inc') }),
    ]);
  });

  it('a command is a line split into words, or a YAML list whose items are its words exactly', async () => {
    const file = [
      'pre-deploy-command: ["sh", "-c", "python manage.py migrate && echo \'done\'", "", "a \\"b\\""]',
      'pre-switch-command: node scripts/check.mjs --url "http://127.0.0.1:8001/ready"',
      'post-switch-command:',
      '  - C:\\tools\\smoke.exe',
      '  - --retries=3',
      "on-failure-command: ['&&', '|']",
      '',
    ].join('\n');
    const files = project(file);
    const layered = await resolveInputs(options({ files }));
    const config = await loadConfig({ ...layered.raw, 'working-directory': ROOT }, files, layered.sources);
    expect(config.preDeploy.command).toEqual(['sh', '-c', "python manage.py migrate && echo 'done'", '', 'a "b"']);
    expect(config.hooks).toMatchObject({
      preSwitch: ['node', 'scripts/check.mjs', '--url', 'http://127.0.0.1:8001/ready'],
      postSwitch: ['C:\\tools\\smoke.exe', '--retries=3'],
      onFailure: ['&&', '|'],
    });
    expect(await refusal(resolveInputs(options({ files: project('pre-deploy-command: []\n') })))).toMatch(
      /- pre-deploy-command = "\[\]" \(from bluegreen\.yml\): a command line, or a list of its words/,
    );
    expect(await refusal(resolveInputs(options({ files: project('pre-switch-command: { a: b }\n') })))).toMatch(
      /- pre-switch-command = .* \(from bluegreen\.yml\): a command line, or a list of its words/,
    );
  });
});

describe('what is refused, naming the key and where it came from', () => {
  it.each([
    ['drain-second: 3\n', /- drain-second \(from bluegreen\.yml\): unknown key; did you mean "drain-seconds"\?/],
    ['enviroments: {}\n', /- enviroments \(from bluegreen\.yml\): unknown key; did you mean "environments"\?/],
    [
      'environments:\n  production:\n    colours: [a, b]\n',
      /- environments\.production\.colours \(from bluegreen\.yml\): unknown key; did you mean "colors"\?/,
    ],
    [
      'environments:\n  staging:\n    environments: {}\n',
      /- environments\.staging\.environments \(from bluegreen\.yml\): unknown key/,
    ],
    ['command: deploy\n', /- command \(from bluegreen\.yml\): not a key of the file: the command is the CLI/],
    ['config: other.yml\n', /- config \(from bluegreen\.yml\): not a key of the file/],
    ['environment: production\n', /- environment \(from bluegreen\.yml\): not a key of the file/],
    ['drain-seconds: { a: 1 }\n', /drain-seconds = "\{a:1\}" \(from bluegreen\.yml\): one value, not a map/],
    ['drain-seconds: [1, 2]\n', /drain-seconds = "\[1,2\]" \(from bluegreen\.yml\): one value, not a list/],
    ['ports: { blue: 1 }\n', /ports = "\{blue:1\}" \(from bluegreen\.yml\): a value or a list of values, not a map/],
    [
      'nginx-targets: { container: proxy }\n',
      /nginx-targets = "\{container:proxy\}" \(from bluegreen\.yml\): a YAML list/,
    ],
    ['health-headers: [[1]]\n', /health-headers = "\*\*\*" \(from bluegreen\.yml\): a map of header/],
    ['x-base: &b { a: 1 }\nports: { <<: *b }\n', /ports = "\{a:1\}" \(from bluegreen\.yml\): a value or a list/],
    ['environments: [production]\n', /environments = "\[production\]" \(from bluegreen\.yml\): a map of environment/],
    ['- ports\n', /config = "bluegreen\.yml": the file must be a map of input names to values/],
    ['ports: [1, 2\n', /config = "bluegreen\.yml": not valid YAML: /],
    ['ports: 1,2\nports: 3,4\n', /not valid YAML: Map keys must be unique/],
  ])('the file %j', async (file, message) => {
    expect(await refusal(resolveInputs(options({ files: project(file) })))).toMatch(message);
  });

  it('every unknown key of the file is listed at once, with what else is wrong', async () => {
    const message = await refusal(
      resolveInputs(options({ files: project('portz: 1,2\nhealth_path: /x\n'), env: { BLUEGREEN_DRAIN: '1' } })),
    );
    expect(message).toMatch(/nothing was changed/);
    expect(message).toMatch(/portz .*did you mean "ports"/);
    expect(message).toMatch(/health_path .*did you mean "health-path"/);
    expect(message).toMatch(/- BLUEGREEN_DRAIN \(from the environment\): unknown variable/);
  });

  it('an unknown BLUEGREEN_ variable names the closest one; the ones the tool sets itself are left alone', async () => {
    const files = project();
    expect(await refusal(resolveInputs(options({ files, env: { BLUEGREEN_DRAIN_SECOND: '3' } })))).toMatch(
      /- BLUEGREEN_DRAIN_SECOND \(from the environment\): unknown variable; did you mean "BLUEGREEN_DRAIN_SECONDS"\?/,
    );
    expect(await refusal(resolveInputs(options({ files, env: { BLUEGREEN_COMMAND: 'deploy' } })))).toMatch(
      /- BLUEGREEN_COMMAND \(from the environment\): not read from the environment/,
    );
    const env = { BLUEGREEN_COLOR: 'blue', BLUEGREEN_PORT: '8000', BLUEGREEN_RUN: 'x', PATH: '/bin' };
    expect((await resolveInputs(options({ files, env }))).raw).toEqual({});
    // What a hook is given: it may run the tool itself (bluegreen status) without these being read as inputs.
    const hook = {
      BLUEGREEN_HOOK: 'post-switch',
      BLUEGREEN_OPERATION: 'deploy',
      BLUEGREEN_PREVIOUS_COLOR: 'green',
      BLUEGREEN_PREVIOUS_PORT: '8001',
      BLUEGREEN_STATUS: 'switched',
      BLUEGREEN_SERVING: 'blue',
      BLUEGREEN_EXIT_CODE: '1',
      BLUEGREEN_ERROR: 'x',
    };
    expect((await resolveInputs(options({ files, env: hook }))).raw).toEqual({});
  });

  it('an environment the file lacks, or one without a file, or a config file that is not there', async () => {
    expect(
      await refusal(resolveInputs(options({ files: project(FULL_FILE), given: { environment: 'prod' } }))),
    ).toMatch(/environment = "prod" \(from flag --environment\): bluegreen\.yml has the environments production/);
    expect(
      await refusal(resolveInputs(options({ files: project('ports: 1,2\n'), given: { environment: 'x' } }))),
    ).toMatch(/environment = "x" \(from flag --environment\): bluegreen\.yml has no environments/);
    expect(await refusal(resolveInputs(options({ files: project(), env: { BLUEGREEN_ENVIRONMENT: 'x' } })))).toMatch(
      /environment = "x" \(from env BLUEGREEN_ENVIRONMENT\): there is no config file to take it from/,
    );
    expect(
      await refusal(resolveInputs(options({ files: project(), env: { BLUEGREEN_CONFIG: 'deploy.yml' } }))),
    ).toMatch(/config = "deploy\.yml" \(from env BLUEGREEN_CONFIG\): no such file: .*deploy\.yml/);
    expect(await refusal(resolveInputs(options({ files: project(), given: { config: 'nginx' } })))).toMatch(
      /config = "nginx" \(from flag --config\): .*nginx is a directory; name the file/,
    );
  });

  it("a typo in an environment that was not chosen is refused too: staging's mistake is found before production's deploy", async () => {
    const file = FULL_FILE + '  staging:\n    drain-secnds: 1\n';
    expect(
      await refusal(resolveInputs(options({ files: project(file), given: { environment: 'production' } }))),
    ).toMatch(/environments\.staging\.drain-secnds/);
  });
});

/** One bad value per input (health-body takes any text, so it has none). */
const BAD: [InputName, string][] = [
  ['working-directory', 'missing-dir'],
  ['compose-files', 'missing.yml'],
  ['color-file', 'docker-compose.{colour}.yml'],
  ['project-name', 'Not A Name'],
  ['hosts', 'ftp://web1'],
  ['max-parallel', '0'],
  ['compose-command', 'podman'],
  ['docker-api', 'cli'],
  ['colors', 'blue'],
  ['ports', '8000'],
  ['build', 'yes'],
  ['pull', 'maybe'],
  ['pre-deploy-command', 'python manage.py migrate && echo done'],
  ['pre-deploy-service', 'app {color}'],
  ['pre-deploy-timeout', '0'],
  ['health-path', 'health'],
  ['health-host', 'bad host'],
  ['health-headers', 'not a header'],
  ['health-status', '700'],
  ['health-timeout', '0'],
  ['health-interval', 'soon'],
  ['nginx-container', 'x'],
  ['upstream-file', 'missing-dir/upstream.inc'],
  ['upstream-path', 'relative/path'],
  ['upstream-template', 'upstream {prot}'],
  ['upstream-host', 'bad;host'],
  ['nginx-targets', '- container: proxy\n  colour: blue\n'],
  ['verify-proxies', 'sometimes'],
  ['verify-url', 'ftp://example.com/'],
  ['verify-timeout', '-1'],
  ['color-header', 'X Color'],
  ['pre-switch-command', 'check "unterminated'],
  ['post-switch-command', "notify 'unterminated"],
  ['post-switch-required', 'perhaps'],
  ['on-failure-command', 'alert | mail'],
  ['hook-timeout', 'never'],
  ['drain-seconds', 'soon'],
  ['watch-seconds', '-3'],
  ['max-error-rate', '101'],
  ['min-requests', '0'],
  ['max-latency-ms', '1.5'],
  ['canary-steps', '50,10'],
  ['canary-interval', '0'],
  ['cleanup', 'remove'],
  ['rollback-on-failure', 'no'],
  ['dry-run', 'perhaps'],
];

describe('every bad value, from the file or from a variable, is refused (exit 2) before docker is used', () => {
  let dir = '';
  const log = () => new RecordingLogger();
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bg-config-sources-'));
    for (const f of ['docker-compose.yml', 'docker-compose.blue.yml', 'docker-compose.green.yml']) {
      await fs.writeFile(path.join(dir, f), 'services: {}\n');
    }
    await fs.mkdir(path.join(dir, 'nginx'));
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('covers every input but the three chosen elsewhere and health-body', () => {
    const covered = new Set([...BAD.map(([name]) => name), 'command', 'config', 'environment', 'health-body']);
    expect(INPUTS.map((i) => i.name).filter((n) => !covered.has(n))).toEqual([]);
  });

  // The valid rest: the include's directory exists and a proxy reads it, so only the bad value is wrong.
  const base = (name: InputName) =>
    name === 'nginx-container' || name === 'nginx-targets'
      ? ''
      : name === 'upstream-file' || name === 'upstream-path'
        ? 'nginx-container: proxy\n'
        : 'nginx-container: proxy\nupstream-file: nginx/upstream.inc\n';

  it.each(BAD)('%s = %j', async (name, value) => {
    const file = path.join(dir, `${name}.yml`);
    const yaml = value.includes('\n')
      ? `${name}: |\n${value.replace(/^/gm, '  ')}`
      : `${name}: ${JSON.stringify(value)}\n`;
    await fs.writeFile(path.join(dir, `${name}.yml`), base(name) + yaml);
    const fromFile = log();
    const r1 = await runCommand({ inputs: { command: 'deploy', config: file }, as: 'flag' }, fromFile);
    expect(r1.exitCode).toBe(2);
    expect(r1.error).toMatch(new RegExp(`- ${name}.* \\(from .*${name}\\.yml\\): `));
    expect(fromFile.text).not.toContain('Docker engine');

    await fs.writeFile(path.join(dir, `${name}.yml`), base(name));
    vi.stubEnv(envName(name), value);
    const fromEnv = log();
    const r2 = await runCommand({ inputs: { command: 'deploy', config: file }, as: 'flag' }, fromEnv);
    vi.unstubAllEnvs();
    expect(r2.exitCode).toBe(2);
    expect(r2.error).toMatch(new RegExp(`- ${name}.* \\(from env ${envName(name)}\\): `));
    expect(fromEnv.text).not.toContain('Docker engine');
  });
});

describe('the file read as written', () => {
  it('keeps the text of numbers: 1.10 stays 1.10, 0123 stays 0123 (YAML would make them 1.1 and 123)', async () => {
    const file =
      'health-body: 1.10\nproject-name: 0123\nhealth-headers: { X-Api-Version: 2.0 }\nports: [08000, 8001]\n';
    const layered = await resolveInputs(options({ files: project(file) }));
    expect(layered.raw).toMatchObject({
      'health-body': '1.10',
      'project-name': '0123',
      'health-headers': 'X-Api-Version: 2.0',
      ports: '08000,8001',
    });
  });

  it('an empty value in an environment leaves the top level in force, not the default', async () => {
    const file = 'ports: [9000, 9001]\nenvironments:\n  prod:\n    ports: []\n    project-name: ""\n';
    const layered = await resolveInputs(options({ files: project(file), given: { environment: 'prod' } }));
    expect(layered.raw.ports).toBe('9000,9001');
    expect(layered.sources.ports?.label).toBe('bluegreen.yml');
    expect(layered.raw['project-name']).toBeUndefined();
  });

  it('an empty BLUEGREEN_COMPOSE_FILES means no shared file, as an empty flag does; other empty variables are unset', async () => {
    const files = project('compose-files: [docker-compose.yml]\ndrain-seconds: 3\n');
    const layered = await resolveInputs(
      options({ files, env: { BLUEGREEN_COMPOSE_FILES: '', BLUEGREEN_DRAIN_SECONDS: '' } }),
    );
    expect(layered.raw['compose-files']).toBe('');
    expect(layered.sources['compose-files']?.label).toBe('env BLUEGREEN_COMPOSE_FILES');
    expect(layered.raw['drain-seconds']).toBe('3');
  });

  it('anchors and merges: x- keys hold them, environments reuse them, a numeric environment name works', async () => {
    const file = [
      'x-slow: &slow { health-timeout: 120, drain-seconds: 30 }',
      'environments:',
      '  production: *slow',
      '  2024:',
      '    <<: *slow',
      '    drain-seconds: 5',
      '',
    ].join('\n');
    const production = await resolveInputs(options({ files: project(file), given: { environment: 'production' } }));
    expect(production.raw).toMatchObject({ 'health-timeout': '120', 'drain-seconds': '30' });
    const numbered = await resolveInputs(options({ files: project(file), given: { environment: '2024' } }));
    expect(numbered.raw).toMatchObject({ 'health-timeout': '120', 'drain-seconds': '5' });
  });

  it("keys that are not the file's own, like constructor, are unknown keys; a lower-case variable is refused", async () => {
    expect(await refusal(resolveInputs(options({ files: project('constructor: 1\n') })))).toMatch(
      /- constructor \(from bluegreen\.yml\): unknown key/,
    );
    expect(await refusal(resolveInputs(options({ files: project(), env: { bluegreen_ports: '1,2' } })))).toMatch(
      /- bluegreen_ports \(from the environment\): write it in upper case: BLUEGREEN_PORTS/,
    );
  });

  it('bluegreen.yaml is found too; both at once are refused', async () => {
    const yaml = project('ports: 7000,7001\n', path.join(ROOT, 'bluegreen.yaml'));
    expect((await resolveInputs(options({ files: yaml }))).raw.ports).toBe('7000,7001');
    yaml.put(FILE, 'ports: 7000,7001\n');
    expect(await refusal(resolveInputs(options({ files: yaml })))).toMatch(
      /both .*bluegreen\.yml and .*bluegreen\.yaml exist/,
    );
  });

  it("a template's \\n is Nginx's in the file, and a newline in a flag", async () => {
    const file = 'upstream-template: |\n  upstream app { server {host}:{port}; }\n  # {color}: return 200 "ok\\n";\n';
    const files = project(file);
    const layered = await resolveInputs(options({ files }));
    const config = await loadConfig({ ...layered.raw, 'working-directory': ROOT }, files, layered.sources);
    expect(config.targets).toEqual([]);
    const fromFile = await loadConfig(
      { ...layered.raw, 'working-directory': ROOT, 'nginx-container': 'proxy', 'upstream-file': 'nginx/u.inc' },
      files,
      layered.sources,
    );
    expect(fromFile.targets[0]?.template).toContain('"ok\\n"');
    const fromFlag = await loadConfig(
      {
        'working-directory': ROOT,
        'nginx-container': 'proxy',
        'upstream-file': 'nginx/u.inc',
        'upstream-template': layered.raw['upstream-template'],
      },
      files,
      { 'upstream-template': { kind: 'flag', label: 'flag --upstream-template' } },
    );
    expect(fromFlag.targets[0]?.template).toContain('"ok\n"');
  });
});

describe('credentials stay out of logs and errors', () => {
  it('an invalid health-headers value is shown with header names only', async () => {
    const files = project('health-headers: ["Authorization: Bearer s3cr3t", "X-Trace 1"]\n');
    const layered = await resolveInputs(options({ files }));
    const message = await refusal(loadConfig({ ...layered.raw, 'working-directory': ROOT }, files, layered.sources));
    expect(message).toMatch(/health-headers = "Authorization: \*\*\*\\n\*\*\*" \(from bluegreen\.yml\): line 2 is not/);
    expect(message).not.toMatch(/s3cr3t|Trace 1/);
  });

  it("the table masks header values, a URL's user, password and query, and credentials in nginx-targets", async () => {
    const file = [
      'health-headers: ["Authorization=Bearer t0ken", "Host: a"]',
      'verify-url: https://ops:hunter2@lb.example.com/health?key=k3y',
      'nginx-targets:',
      '  - container: proxy',
      '    file: nginx/u.inc',
      '    verify-url: http://u:pw9@127.0.0.1:8080/',
      '',
    ].join('\n');
    const table = configTable(await resolveInputs(options({ files: project(file) }))).join('\n');
    expect(table).not.toMatch(/t0ken|hunter2|k3y|pw9|ops:/);
    expect(table).toMatch(/^health-headers +\*\*\*\\nHost: \*\*\* +bluegreen\.yml$/m);
    expect(table).toContain('https://***:***@lb.example.com/health?***');
  });
});

describe('the table of `bluegreen config` and of the run log', () => {
  it('shows each input with its value and source, masks header values, names the file and the environment', async () => {
    const files = project(FULL_FILE + '    health-headers: "Authorization: Bearer secret"\n');
    const layered = await resolveInputs(options({ files, given: { environment: 'production' } }));
    const table = configTable(layered).join('\n');
    expect(table).toContain(`config file: ${FILE}`);
    expect(table).toContain('environment: production');
    expect(table).toMatch(/^drain-seconds +60 +bluegreen\.yml, environments\.production$/m);
    expect(table).toMatch(/^ports +9000,9001 +bluegreen\.yml$/m);
    expect(table).toMatch(/^health-timeout +60 +default$/m);
    expect(table).toMatch(/^health-headers +Authorization: \*\*\* +bluegreen\.yml, environments\.production$/m);
    expect(table).not.toContain('secret');
  });
});

describe('closest', () => {
  it('suggests a near name, and none for a far one', () => {
    expect(closest('drain-second', ['drain-seconds', 'ports'])).toBe('drain-seconds');
    expect(closest('HEALTH_PATH', ['health-path'])).toBe('health-path');
    expect(closest('wholly-different', ['ports', 'colors'])).toBeUndefined();
  });
});
