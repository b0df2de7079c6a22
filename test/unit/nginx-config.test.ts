import { describe, expect, it } from 'vitest';
import { listenPorts } from '../../src/proxy/nginx-config.js';

/** An `nginx -T` dump of these files. */
function dump(files: Record<string, string>): string {
  return Object.entries(files)
    .map(([path, text]) => `# configuration file ${path}:\n${text}\n`)
    .join('\n');
}

const NGINX_CONF = 'events {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n';
const UPSTREAM = 'upstream app {\n    server app-green:8000;\n}\n';

describe('listenPorts', () => {
  it('takes the plain-HTTP ports of a server block, with or without an address; not TLS, sockets or comments', () => {
    const d = dump({
      '/etc/nginx/nginx.conf': NGINX_CONF,
      '/etc/nginx/conf.d/default.conf': [
        'server {',
        '    listen 80 default_server;',
        '    listen [::]:80;',
        '    listen 127.0.0.1:8080;',
        '    listen 443 ssl;',
        '    listen unix:/run/nginx.sock;',
        '    # listen 9999;',
        '}',
      ].join('\n'),
    });
    expect(listenPorts(d)).toEqual([80, 8080]);
  });

  it('a server block without a listen directive listens on 80; no server block, no port', () => {
    expect(listenPorts(dump({ '/etc/nginx/conf.d/x.conf': 'server {\n    server_name x;\n}\n' }))).toEqual([80]);
    expect(listenPorts(dump({ '/etc/nginx/nginx.conf': 'events {}\nhttp {}\n' }))).toEqual([]);
  });

  it('an upstream include: the ports of the server blocks that pass requests to that upstream', () => {
    const d = dump({
      '/etc/nginx/nginx.conf': NGINX_CONF,
      '/etc/nginx/conf.d/default.conf': [
        'include /etc/nginx/conf.d/service-url.inc;',
        'server { listen 8081; location / { proxy_pass http://other; } }',
        'server {',
        '    listen 80;',
        '    location /api/ { proxy_pass http://app/api/; }',
        '}',
      ].join('\n'),
      '/etc/nginx/conf.d/service-url.inc': UPSTREAM,
    });
    expect(listenPorts(d, '/etc/nginx/conf.d/service-url.inc', UPSTREAM)).toEqual([80]);
  });

  it('an include inside a server block (set $service_url): the ports of the blocks that include it, globs too', () => {
    const d = dump({
      '/etc/nginx/conf.d/a.conf': 'server {\n    listen 8001;\n    include /etc/nginx/conf.d/a/service-url.inc;\n}\n',
      '/etc/nginx/conf.d/b.conf':
        'server {\n    listen 8002;\n    location / {\n        include conf.d/b/*.inc;\n    }\n}\n',
      '/etc/nginx/conf.d/a/service-url.inc': 'set $service_url http://a-green:8000;\n',
      '/etc/nginx/conf.d/b/service-url.inc': 'set $service_url http://b-green:8000;\n',
    });
    expect(listenPorts(d, '/etc/nginx/conf.d/a/service-url.inc', 'set $service_url http://a-green:8000;')).toEqual([
      8001,
    ]);
    expect(listenPorts(d, '/etc/nginx/conf.d/b/service-url.inc', 'set $service_url http://b-green:8000;')).toEqual([
      8002,
    ]);
  });

  it('a block that serves the include over TLS only has no port to check (its redirect on 80 is not it)', () => {
    const d = dump({
      '/etc/nginx/conf.d/default.conf': [
        'include /etc/nginx/conf.d/service-url.inc;',
        'server { listen 80; return 301 https://$host$request_uri; }',
        'server { listen 443 ssl; location / { proxy_pass http://app; } }',
      ].join('\n'),
      '/etc/nginx/conf.d/service-url.inc': UPSTREAM,
    });
    expect(listenPorts(d, '/etc/nginx/conf.d/service-url.inc', UPSTREAM)).toEqual([]);
  });

  it('a # inside a quoted string is not a comment', () => {
    const d = dump({ '/etc/nginx/conf.d/a.conf': 'server {\n    return 200 "ok #1"; listen 8080;\n}\n' });
    expect(listenPorts(d)).toEqual([8080]);
  });

  it('when nothing says which block serves the include: every block', () => {
    const d = dump({
      '/etc/nginx/conf.d/a.conf': 'server { listen 81; }\nserver { listen 82; }\n',
      '/etc/nginx/conf.d/x.inc': 'map $host $backend { default green; }\n',
    });
    expect(listenPorts(d, '/etc/nginx/conf.d/x.inc', 'map $host $backend { default green; }')).toEqual([81, 82]);
  });
});
