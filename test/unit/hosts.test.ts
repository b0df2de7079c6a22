// The input hosts: its entries, and each host's configuration laid over the shared one.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { hostConfigs } from '../../src/config/host-configs.js';
import { parseHosts } from '../../src/config/hosts.js';
import { resolveInputs } from '../../src/config/sources.js';
import { describeConfig } from '../../src/main.js';
import type { RawInputs } from '../../src/inputs.js';
import { FakeFiles, refusal } from './fakes.js';

const WD = '/srv/app';

function files(extra: Record<string, string> = {}): FakeFiles {
  const f = new FakeFiles({
    [`${WD}/docker-compose.yml`]: 'services: {}\n',
    [`${WD}/docker-compose.blue.yml`]: 'services: {}\n',
    [`${WD}/docker-compose.green.yml`]: 'services: {}\n',
    ...extra,
  });
  f.dirs.add(WD);
  f.dirs.add(`${WD}/nginx`);
  return f;
}

async function configs(raw: RawInputs, f = files()) {
  const given = {
    'working-directory': WD,
    'nginx-container': 'proxy',
    'upstream-path': '/etc/nginx/conf.d/app.inc',
    ...raw,
  };
  const base = await loadConfig(given, f);
  return hostConfigs(base, given, f);
}

describe('hosts', () => {
  it('reads URLs and contexts, from a comma or line list, and names each host', () => {
    const { hosts, issues } = parseHosts(
      'ssh://deploy@web1.example.com, tcp://10.0.0.5:2376\nunix:///run/engine-b/docker.sock\nprod-eu',
    );
    expect(issues).toEqual([]);
    expect(hosts.map((h) => [h.name, h.endpoint, h.remote, h.address])).toEqual([
      ['web1.example.com', { host: 'ssh://deploy@web1.example.com' }, true, 'web1.example.com'],
      ['10.0.0.5:2376', { host: 'tcp://10.0.0.5:2376' }, true, '10.0.0.5'],
      ['/run/engine-b/docker.sock', { host: 'unix:///run/engine-b/docker.sock' }, false, undefined],
      ['prod-eu', { context: 'prod-eu' }, true, undefined],
    ]);
  });

  it.each([
    ['ftp://web1', /is not a Docker endpoint/],
    ['ssh://web1:99999', /is not a Docker endpoint/],
    ['ssh://web1;reboot', /is not a Docker endpoint/],
    ['- docker: ssh://web1\n  health-hots: 10.0.0.1', /unknown key\(s\) health-hots/],
    ['- docker: ssh://a@web1\n- docker: ssh://b@web1', /two hosts are named web1: give each a name/],
    ['- docker: ssh://a@web1\n  name: one\n- docker: ssh://a@web1\n  name: two', /one and two are the same engine/],
    ['- docker: ssh://web1\n  name: "bad name"', /name "bad name" must be/],
  ])('refuses %j', (text, message) => {
    expect(parseHosts(text).issues.join('\n')).toMatch(message);
  });

  it('reaches a remote host at the address in its URL unless health-host is given for all, or for it', async () => {
    const hosts = '- ssh://deploy@web1\n- docker: ssh://deploy@web2\n  health-host: 10.1.0.2\n- unix:///run/b.sock';
    const plain = await configs({ hosts });
    expect(plain.map((c) => c.config.health.host)).toEqual(['web1', '10.1.0.2', '127.0.0.1']);
    const forAll = await configs({ hosts, 'health-host': '10.9.9.9' });
    expect(forAll.map((c) => c.config.health.host)).toEqual(['10.9.9.9', '10.1.0.2', '10.9.9.9']);
  });

  it('refuses to reach a remote host or a context on the runner itself (health-host loopback)', async () => {
    const shared = await refusal(
      configs({ hosts: 'ssh://deploy@web1,unix:///run/b.sock', 'health-host': '127.0.0.1' }),
    );
    expect(shared).toMatch(/health-host of web1 = "127\.0\.0\.1" \(from default\): that is the runner itself/);
    expect(shared).not.toMatch(/health-host of \/run\/b\.sock/);
    const context = await refusal(configs({ hosts: 'prod-eu' }));
    expect(context).toMatch(
      /health-host of prod-eu = "127\.0\.0\.1" .*give the address where the runner reaches its published ports/,
    );
    const given = await configs({ hosts: '- { docker: prod-eu, health-host: 10.0.0.7 }' });
    expect(given[0]?.config.health.host).toBe('10.0.0.7');
  });

  it('a host that names its own proxies replaces the shared ones; the rest is shared', async () => {
    const hosts = [
      '- ssh://deploy@web1',
      '- docker: ssh://deploy@web2',
      '  nginx-targets:',
      '    - { container: edge, path: /etc/nginx/app.inc }',
      '    - { container: edge-2, path: /etc/nginx/app.inc }',
    ].join('\n');
    const [one, two] = await configs({ hosts, ports: '9000,9001' });
    expect(one?.config.targets.map((t) => t.container)).toEqual(['proxy']);
    expect(two?.config.targets.map((t) => t.container)).toEqual(['edge', 'edge-2']);
    expect(two?.config.ports).toEqual([9000, 9001]);
    expect(two?.config.hosts).toEqual([]);
  });

  it('refuses an include on the runner disk for a host reached over the network, naming the host', async () => {
    const message = await refusal(
      configs({
        hosts: 'unix:///run/b.sock,ssh://deploy@web2',
        'upstream-path': '',
        'upstream-file': 'nginx/app.inc',
      }),
    );
    expect(message).toMatch(
      /hosts \(web2\) = "\/srv\/app\/nginx\/app\.inc": proxy proxy: an include on the runner's disk/,
    );
    expect(message).toMatch(/give its path inside the container \(upstream-path, path:\)/);
    expect(message).not.toMatch(/run\/b\.sock/);
  });

  it('names the host whose own value is wrong, and where the shared one came from', async () => {
    const message = await refusal(configs({ hosts: '- docker: ssh://web1\n  health-host: "bad host"' }));
    expect(message).toMatch(/health-host of web1 = "bad host" \(from hosts \(web1\)\)/);
  });

  it('takes a YAML list of hosts in the config file, and a list of plain values as an input', async () => {
    const file = [
      'nginx-container: proxy',
      'upstream-path: /etc/nginx/conf.d/app.inc',
      'hosts:',
      '  - ssh://deploy@web1',
      '  - docker: ssh://deploy@web2',
      '    nginx-container: [edge, edge-2]',
      'environments:',
      '  staging:',
      '    hosts: [ssh://deploy@staging1]',
    ].join('\n');
    const f = files({ [`${WD}/bluegreen.yml`]: file });
    const layered = await resolveInputs({
      given: { 'working-directory': WD },
      givenAs: 'flag',
      env: {},
      cwd: WD,
      files: f,
    });
    const base = await loadConfig(layered.raw, f, layered.sources);
    const each = await hostConfigs(base, layered.raw, f, layered.sources);
    expect(each.map((c) => [c.host.name, c.config.targets.map((t) => t.container)])).toEqual([
      ['web1', ['proxy']],
      ['web2', ['edge', 'edge-2']],
    ]);
    const staging = await resolveInputs({
      given: { environment: 'staging', 'working-directory': WD },
      givenAs: 'flag',
      env: {},
      cwd: WD,
      files: f,
    });
    expect((await loadConfig(staging.raw, f)).hosts.map((h) => h.name)).toEqual(['staging1']);
  });

  it('bluegreen config checks every host as a run would', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bg-hosts-'));
    try {
      for (const f of ['docker-compose.yml', 'docker-compose.blue.yml', 'docker-compose.green.yml']) {
        await fs.writeFile(path.join(dir, f), 'services: {}\n');
      }
      await fs.mkdir(path.join(dir, 'nginx'));
      const file = 'nginx-container: proxy\nupstream-file: nginx/app.inc\nhosts: [ssh://deploy@web1]\n';
      await fs.writeFile(path.join(dir, 'bluegreen.yml'), file);
      const report = await describeConfig({ inputs: { 'working-directory': dir }, as: 'flag' });
      expect(report.valid).toBe(false);
      expect(report.error).toMatch(
        /hosts \(web1\) = .*an include on the runner's disk \(upstream-file, file:\) cannot reach web1/,
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
