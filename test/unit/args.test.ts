import { describe, expect, it } from 'vitest';
import { parseArgs, usage } from '../../src/cli/args.js';
import { INPUTS } from '../../src/inputs.js';

describe('parseArgs', () => {
  it('takes the command from the positional argument', () => {
    for (const command of ['deploy', 'rollback', 'status']) {
      const parsed = parseArgs([command]);
      expect(parsed).toEqual({ inputs: { command }, json: false, help: false, showConfig: false });
    }
  });

  it('takes the command after the flags too', () => {
    expect(parseArgs(['--ports', '9000,9001', 'status'])).toEqual({
      inputs: { ports: '9000,9001', command: 'status' },
      json: false,
      help: false,
      showConfig: false,
    });
  });

  it('reads --flag value', () => {
    const parsed = parseArgs(['deploy', '--health-path', '/api/v1/test', '--colors', 'a,b']);
    expect(parsed.error).toBeUndefined();
    expect(parsed.inputs).toEqual({ command: 'deploy', 'health-path': '/api/v1/test', colors: 'a,b' });
  });

  it('reads --flag=value, keeping any further = and an empty value', () => {
    const parsed = parseArgs(['deploy', '--verify-url=http://x/?a=b', '--compose-files=', '--health-headers=Host: x']);
    expect(parsed.error).toBeUndefined();
    expect(parsed.inputs).toEqual({
      command: 'deploy',
      'verify-url': 'http://x/?a=b',
      'compose-files': '',
      'health-headers': 'Host: x',
    });
  });

  it('keeps a value with spaces and newlines as one argument', () => {
    const parsed = parseArgs(['deploy', '--upstream-template', 'upstream app {\n  server {host}:{port};\n}']);
    expect(parsed.inputs['upstream-template']).toBe('upstream app {\n  server {host}:{port};\n}');
  });

  it('takes a boolean flag alone for true', () => {
    expect(parseArgs(['deploy', '--dry-run']).inputs).toEqual({ command: 'deploy', 'dry-run': 'true' });
    expect(parseArgs(['deploy', '--post-switch-required']).inputs).toEqual({
      command: 'deploy',
      'post-switch-required': 'true',
    });
  });

  it('takes a boolean flag followed by another flag for true', () => {
    const parsed = parseArgs([
      'deploy',
      '--dry-run',
      '--ports',
      '1,2',
      '--pull',
      '--json',
      '--build',
      '--cleanup',
      'keep',
    ]);
    expect(parsed.error).toBeUndefined();
    expect(parsed.json).toBe(true);
    expect(parsed.inputs).toEqual({
      command: 'deploy',
      'dry-run': 'true',
      ports: '1,2',
      pull: 'true',
      build: 'true',
      cleanup: 'keep',
    });
  });

  it('passes an explicit boolean value on', () => {
    expect(parseArgs(['deploy', '--build', 'false', '--rollback-on-failure=false']).inputs).toEqual({
      command: 'deploy',
      build: 'false',
      'rollback-on-failure': 'false',
    });
  });

  it('config is a command of the CLI alone: it sets showConfig, not the command input', () => {
    expect(parseArgs(['config', '--config', 'deploy/bluegreen.yml', '--json'])).toEqual({
      inputs: { config: 'deploy/bluegreen.yml' },
      json: true,
      help: false,
      showConfig: true,
    });
    expect(parseArgs(['config', 'deploy']).error).toBe('unexpected argument "deploy"');
    expect(parseArgs(['deploy', 'config']).error).toBe('unexpected argument "config"');
  });

  it('sets json with --json', () => {
    const parsed = parseArgs(['status', '--json']);
    expect(parsed).toEqual({ inputs: { command: 'status' }, json: true, help: false, showConfig: false });
    expect(parseArgs(['status']).json).toBe(false);
  });

  it.each([['--help'], ['-h'], ['help']])('sets help with %s, and needs no command then', (flag) => {
    const parsed = parseArgs([flag]);
    expect(parsed.help).toBe(true);
    expect(parsed.error).toBeUndefined();
    expect(parseArgs(['deploy', flag]).help).toBe(true);
  });

  it('rejects an unknown flag', () => {
    expect(parseArgs(['deploy', '--colour', 'a,b']).error).toBe('unknown flag --colour');
    expect(parseArgs(['deploy', '--colour=a,b']).error).toBe('unknown flag --colour');
  });

  it('rejects --command: the command is the positional argument', () => {
    expect(parseArgs(['--command', 'deploy']).error).toBe('unknown flag --command');
    expect(parseArgs(['status', '--command=deploy']).error).toBe('unknown flag --command');
  });

  it('rejects an unknown command', () => {
    const parsed = parseArgs(['destroy']);
    expect(parsed.error).toMatch(/^unknown command "destroy"; use deploy, rollback, status, config$/);
    expect(parsed.inputs.command).toBeUndefined();
  });

  it('rejects a second positional argument', () => {
    expect(parseArgs(['deploy', 'status']).error).toBe('unexpected argument "status"');
  });

  it('asks for a command when none is given', () => {
    expect(parseArgs([]).error).toMatch(/^name a command first: deploy, rollback, status, config$/);
    expect(parseArgs(['--dry-run', '--json']).error).toMatch(/name a command first/);
  });

  it('rejects a value flag without a value', () => {
    expect(parseArgs(['deploy', '--ports']).error).toBe('--ports needs a value');
    expect(parseArgs(['deploy', '--health-path']).error).toBe('--health-path needs a value');
    expect(parseArgs(['deploy', '--ports', '--json']).error).toBe('--ports needs a value');
  });

  it('does not let a boolean flag swallow the command', () => {
    expect(parseArgs(['--dry-run', 'deploy'])).toMatchObject({ inputs: { command: 'deploy', 'dry-run': 'true' } });
    expect(parseArgs(['--build', 'FALSE', 'status']).inputs).toEqual({ command: 'status', build: 'FALSE' });
  });
});

describe('usage', () => {
  const text = usage();

  it('lists every input except command as a flag', () => {
    const listed = [...text.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]);
    const expected = INPUTS.map((i) => i.name).filter((n) => n !== 'command');
    expect(listed.filter((n) => n !== 'json' && n !== 'help')).toEqual(expected);
    expect(text).not.toMatch(/--command\b/);
  });

  it("shows each flag's help and non-empty default, with newlines as \\n", () => {
    for (const input of INPUTS.filter((i) => i.name !== 'command')) {
      const line = text.split('\n').find((l) => l.startsWith(`  --${input.name} `));
      expect(line, input.name).toContain(input.help);
      if (input.default) expect(line, input.name).toContain(`[default: ${input.default.replace(/\n/g, '\\n')}]`);
      else expect(line, input.name).not.toContain('[default:');
    }
  });

  it('names each command on its own line, --json, --help and the exit codes', () => {
    expect(text).toMatch(/^Usage: bluegreen <deploy\|rollback\|status\|config> /);
    for (const command of ['deploy', 'rollback', 'status', 'config'])
      expect(text).toMatch(new RegExp(`^  ${command} {2,}\\S`, 'm'));
    for (const flag of ['json', 'help']) expect(text).toMatch(new RegExp(`^  --${flag} {2,}\\S`, 'm'));
    expect(text).toContain('Exit codes: 0 success');
    expect(text).toContain('2 invalid input');
  });
});
