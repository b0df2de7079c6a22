import { afterEach, describe, expect, it } from 'vitest';
import { parseInspect, PINNED_COMPOSE_ENV, projectNameOf } from '../../src/compose.js';
import { FakeFiles } from './fake-host.js';

const WD = '/srv/My.Shop';

describe('projectNameOf: the compose project as compose picks it', () => {
  const saved = process.env.COMPOSE_PROJECT_NAME;
  afterEach(() => {
    if (saved === undefined) delete process.env.COMPOSE_PROJECT_NAME;
    else process.env.COMPOSE_PROJECT_NAME = saved;
  });
  const config = (projectName = '') => ({ projectName, workingDirectory: WD, composeFiles: ['a.yml', 'b.yml'] });

  it('-p, then COMPOSE_PROJECT_NAME (environment, then .env), then name: (the last file), then the directory', async () => {
    delete process.env.COMPOSE_PROJECT_NAME;
    const files = new FakeFiles({ [`${WD}/a.yml`]: 'services: {}\n', [`${WD}/b.yml`]: 'services: {}\n' });
    expect(await projectNameOf(config(), files)).toBe('myshop');
    files.put(`${WD}/a.yml`, 'name: first\nservices: {}\n');
    files.put(`${WD}/b.yml`, 'name: "second"\nservices: {}\n');
    expect(await projectNameOf(config(), files)).toBe('second');
    files.put(`${WD}/.env`, '# local\nCOMPOSE_PROJECT_NAME=from-dotenv\n');
    expect(await projectNameOf(config(), files)).toBe('from-dotenv');
    process.env.COMPOSE_PROJECT_NAME = 'From_Env';
    expect(await projectNameOf(config(), files)).toBe('from_env');
    expect(await projectNameOf(config('given'), files)).toBe('given');
  });

  it('keeps lower-case letters, digits, - and _, and starts with a letter or digit', async () => {
    delete process.env.COMPOSE_PROJECT_NAME;
    const files = new FakeFiles({ [`${WD}/a.yml`]: 'name: _Shop.Prod-1\n' });
    expect(await projectNameOf({ ...config(), composeFiles: ['a.yml'] }, files)).toBe('shopprod-1');
  });
});

describe('parseInspect', () => {
  it('reads state, health, addresses and ports, and leaves one-off containers out', () => {
    const json = JSON.stringify([
      {
        Id: '0123456789abcdef',
        Name: '/shop-app-green-1',
        State: { Status: 'running', Running: true, ExitCode: 0, Health: { Status: 'starting' } },
        Config: { Labels: { 'com.docker.compose.service': 'app-green' }, ExposedPorts: { '8000/tcp': {}, '53/udp': {} } },
        NetworkSettings: { Networks: { shop_default: { IPAddress: '172.18.0.4', GlobalIPv6Address: '' } }, Ports: { '8000/tcp': null } },
      },
      { Id: 'fedcba9876543210', Name: '/shop-run-1', Config: { Labels: { 'com.docker.compose.oneoff': 'True' } } },
    ]);
    expect(parseInspect(json)).toEqual([
      {
        id: '0123456789ab',
        name: 'shop-app-green-1',
        service: 'app-green',
        running: true,
        status: 'running',
        exitCode: 0,
        health: 'starting',
        addresses: ['172.18.0.4'],
        ports: [8000],
      },
    ]);
  });
});

describe('PINNED_COMPOSE_ENV', () => {
  it('never lets compose remove the other color as an orphan', () => {
    expect(PINNED_COMPOSE_ENV).toMatchObject({ COMPOSE_REMOVE_ORPHANS: 'false', COMPOSE_IGNORE_ORPHANS: 'true' });
  });
});
