import { describe, expect, it } from 'vitest';
import type { ProxyTarget } from '../../src/config/config.js';
import { dumpSections } from '../../src/proxy/nginx-config.js';
import { readInclude, renderInclude } from '../../src/proxy/include.js';

const colorOfInclude = (...args: Parameters<typeof readInclude>) => readInclude(...args).color;

const DEFAULT_TEMPLATE = 'upstream app {\n    server {host}:{port};\n}\n';
const COLORS = ['blue', 'green'] as const;
const PORTS = [8000, 8001] as const;

function target(template: string, host = 'localhost'): ProxyTarget {
  return { container: 'nginx', file: '/srv/app/nginx/service-url.inc', template, host };
}

describe('renderInclude', () => {
  it('fills {color}, {port} and {host}, every time they occur', () => {
    const text = renderInclude(
      target('# {color}\nupstream {color} { server {host}:{port}; server {host}:{port} backup; }', 'app.internal'),
      'green',
      8001,
    );
    expect(text).toBe(
      '# bluegreen-action: color=green port=8001\n' +
        '# green\nupstream green { server app.internal:8001; server app.internal:8001 backup; }\n',
    );
  });

  it('starts with the marker line and keeps an existing final newline single', () => {
    const text = renderInclude(target(DEFAULT_TEMPLATE), 'blue', 8000);
    expect(text).toBe('# bluegreen-action: color=blue port=8000\nupstream app {\n    server localhost:8000;\n}\n');
    expect(text.endsWith('\n\n')).toBe(false);
  });

  it('adds a final newline when the template has none', () => {
    const text = renderInclude(target('set $service_url http://{host}:{port};', '10.0.0.5'), 'green', 8001);
    expect(text).toBe('# bluegreen-action: color=green port=8001\nset $service_url http://10.0.0.5:8001;\n');
  });

  it('leaves Nginx variables alone', () => {
    const text = renderInclude(target('set $service_url http://{host}:{port}$request_uri;', '[::1]'), 'blue', 8000);
    expect(text).toContain('set $service_url http://[::1]:8000$request_uri;');
  });

  it('leaves ${name} Nginx variables alone, even when named like a placeholder', () => {
    const text = renderInclude(
      target('proxy_set_header Host ${host}; server {host}:{port}; # ${color}', 'app'),
      'blue',
      8000,
    );
    expect(text).toContain('proxy_set_header Host ${host}; server app:8000; # ${color}');
  });
});

describe('colorOfInclude', () => {
  const t = target(DEFAULT_TEMPLATE);

  it('reads back the color of what renderInclude wrote (render → read round trip)', () => {
    expect(colorOfInclude(renderInclude(t, 'green', 8001), t, COLORS, PORTS)).toBe('green');
    expect(colorOfInclude(renderInclude(t, 'blue', 8000), t, COLORS, PORTS)).toBe('blue');
  });

  it('never takes the color from the marker alone: content that names no color points at none', () => {
    const content = '# bluegreen-action: color=green port=8001\nupstream app { server somewhere:1; }\n';
    expect(readInclude(content, t, COLORS, PORTS)).toEqual({ color: undefined, marker: 'green' });
  });

  it('lets the content win over a marker that a hand edit left behind', () => {
    const content = '# bluegreen-action: color=green port=8001\nupstream app {\n    server localhost:8000;\n}\n';
    expect(readInclude(content, t, COLORS, PORTS)).toEqual({ color: 'blue', marker: 'green' });
  });

  it('recognises a hand edit that adds comments and parameters, or spells the host otherwise', () => {
    const edited = '# back to blue, 03:12\nupstream app {\n    server localhost:8000 max_fails=3; # was 8001\n}\n';
    expect(colorOfInclude(edited, t, COLORS, PORTS)).toBe('blue');
    // The template renders localhost:{port}; the hand edit wrote 127.0.0.1: its port names green.
    const respelled = '# bluegreen-action: color=blue port=8000\nupstream app { server 127.0.0.1:8001; }\n';
    expect(readInclude(respelled, t, COLORS, PORTS)).toEqual({ color: 'green', marker: 'blue' });
    const named = target('upstream app { server app-{color}:8000; }');
    expect(colorOfInclude('upstream app { server app-green.internal:8000; }', named, COLORS, PORTS)).toBe('green');
  });

  it('reads comments as Nginx does: a # where a token starts ends the line, also right after a ;', () => {
    expect(colorOfInclude('upstream app { server localhost:8001;#server localhost:8000;\n}', t, COLORS, PORTS)).toBe(
      'green',
    );
  });

  it('an include that names both colors points at neither', () => {
    const both = 'upstream app {\n    server localhost:8000;\n    server localhost:8001 backup;\n}\n';
    expect(colorOfInclude(both, t, COLORS, PORTS)).toBeUndefined();
  });

  it('ignores a marker naming a color that is not configured', () => {
    const content = '# bluegreen-action: color=red port=9000\nupstream app {\n    server localhost:8000;\n}\n';
    expect(colorOfInclude(content, t, COLORS, PORTS)).toBe('blue');
  });

  it("recognises the seed's hand-written include without marker", () => {
    expect(colorOfInclude('upstream app {\n    server localhost:8000;\n}', t, COLORS, PORTS)).toBe('blue');
    expect(colorOfInclude('upstream app {\n    server localhost:8001;\n}\n', t, COLORS, PORTS)).toBe('green');
  });

  it('compares modulo whitespace and blank lines', () => {
    const content = '\r\n  upstream   app {\r\n\tserver  localhost:8001;\r\n\r\n}  \r\n';
    expect(colorOfInclude(content, t, COLORS, PORTS)).toBe('green');
    const set = target('set $service_url http://{host}:{port};', '10.0.0.5');
    expect(colorOfInclude('set $service_url    http://10.0.0.5:8000;', set, COLORS, PORTS)).toBe('blue');
  });

  it('returns undefined for unrelated content', () => {
    expect(colorOfInclude('upstream app {\n    server localhost:9000;\n}\n', t, COLORS, PORTS)).toBeUndefined();
    expect(colorOfInclude('upstream app {\n    server 127.0.0.1:9;\n}\n', t, COLORS, PORTS)).toBeUndefined();
    expect(colorOfInclude('', t, COLORS, PORTS)).toBeUndefined();
    // A number that is not a port is not a port.
    expect(colorOfInclude('upstream app { server x:1; keepalive 8000; }', t, COLORS, PORTS)).toBeUndefined();
  });

  it('returns undefined for a missing include', () => {
    expect(colorOfInclude(null, t, COLORS, PORTS)).toBeUndefined();
  });
});

describe('dumpSections', () => {
  const dump = [
    '# configuration file /etc/nginx/nginx.conf:',
    'user  nginx;',
    'worker_processes  auto;',
    '',
    'http {',
    '    include       /etc/nginx/mime.types;',
    '    include /etc/nginx/conf.d/*.conf;',
    '}',
    '',
    '# configuration file /etc/nginx/mime.types:',
    'types {',
    '    text/html                                        html htm shtml;',
    '}',
    '',
    '# configuration file /etc/nginx/conf.d/default.conf:',
    'include /etc/nginx/conf.d/test-backend/service-url.inc;',
    'server {',
    '    listen 80;',
    '    location / { proxy_pass $service_url; }',
    '}',
    '',
    '# configuration file /etc/nginx/conf.d/test-backend/service-url.inc:',
    '# bluegreen-action: color=green port=8001',
    'set $service_url http://10.0.0.5:8001;',
    '',
    '# configuration file /etc/nginx/conf.d/empty.conf:',
    '',
  ].join('\n');

  it('splits the dump into one section per file, in order', () => {
    const sections = dumpSections(dump);
    expect([...sections.keys()]).toEqual([
      '/etc/nginx/nginx.conf',
      '/etc/nginx/mime.types',
      '/etc/nginx/conf.d/default.conf',
      '/etc/nginx/conf.d/test-backend/service-url.inc',
      '/etc/nginx/conf.d/empty.conf',
    ]);
  });

  it('keeps each file content without the header lines', () => {
    const sections = dumpSections(dump);
    expect(sections.get('/etc/nginx/conf.d/test-backend/service-url.inc')).toBe(
      '# bluegreen-action: color=green port=8001\nset $service_url http://10.0.0.5:8001;\n',
    );
    expect(sections.get('/etc/nginx/mime.types')).toBe(
      'types {\n    text/html                                        html htm shtml;\n}\n',
    );
    expect(sections.get('/etc/nginx/nginx.conf')).toMatch(/^user {2}nginx;\n[\s\S]*\n}\n$/);
    expect(sections.get('/etc/nginx/conf.d/empty.conf')?.trim()).toBe('');
    for (const content of sections.values()) expect(content).not.toContain('# configuration file');
  });

  it('drops what comes before the first section and does not take a commented include for a header', () => {
    const sections = dumpSections(
      'nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n' +
        '# configuration file /a.conf:\n' +
        '  # configuration file /not-a-header.conf:\n' +
        'x;\n',
    );
    expect([...sections.keys()]).toEqual(['/a.conf']);
    expect(sections.get('/a.conf')).toBe('  # configuration file /not-a-header.conf:\nx;\n');
  });

  it('gives an empty map for output without sections', () => {
    expect(dumpSections('').size).toBe(0);
    expect(dumpSections('nginx: [emerg] unexpected "}"\n').size).toBe(0);
  });
});
