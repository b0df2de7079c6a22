import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '../../src');

function sources(room: string): [string, string][] {
  const dir = path.join(SRC, room);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => [path.join(room, f), readFileSync(path.join(dir, f), 'utf8')]);
}

function imports(text: string): string[] {
  return [...text.matchAll(/^import [^;]*?from '([^']+)';/gms)].map((m) => m[1] ?? '');
}

describe('the rooms of src/', () => {
  it('the engine knows no proxy kind, no GitHub, no CLI and starts no process itself', () => {
    const engine = sources('engine');
    expect(engine.length).toBeGreaterThan(5);
    for (const [file, text] of engine) {
      for (const spec of imports(text)) {
        expect(spec, `${file} imports ${spec}`).not.toMatch(
          /proxy\/nginx|@actions\/|execa|child_process|\/cli\/|\/action\/|\.\.\/main\.js/,
        );
      }
      // Nginx is one kind of proxy, behind proxy/proxy.ts; the input name nginx-targets is the user's word.
      expect(text.replace(/nginx-targets/g, ''), file).not.toMatch(/nginx/i);
    }
  });

  it('only proxy/proxy.ts chooses a proxy kind', () => {
    const users = [...sources('engine'), ...sources('docker'), ...sources('.')].filter(([, text]) =>
      imports(text).some((s) => /\/nginx\.js$/.test(s)),
    );
    expect(users.map(([file]) => file)).toEqual([]);
    expect(imports(readFileSync(path.join(SRC, 'proxy/proxy.ts'), 'utf8'))).toContain('./nginx.js');
  });

  it('config/ reads the inputs, files and environment it is handed: no engine, no docker, no process, no entry point', () => {
    const config = sources('config');
    expect(config.map(([file]) => file).sort()).toEqual([
      'config/config.ts',
      'config/host-configs.ts',
      'config/hosts.ts',
      'config/sources.ts',
      'config/words.ts',
    ]);
    for (const [file, text] of config) {
      for (const spec of imports(text)) {
        expect(spec, `${file} imports ${spec}`).not.toMatch(
          /\/engine\/|\/docker\/|proxy\/nginx|@actions\/|execa|child_process|\/cli\/|\/action\/|\.\.\/main\.js/,
        );
      }
      // The environment is handed to it, so that tests hand it their own.
      expect(text, file).not.toMatch(/process\.env/);
    }
  });

  it('the entry points only wire: GitHub in action/, the command line in cli/', () => {
    const outside = [
      ...sources('.'),
      ...sources('engine'),
      ...sources('docker'),
      ...sources('proxy'),
      ...sources('config'),
      ...sources('cli'),
    ];
    for (const [file, text] of outside) {
      expect(
        imports(text).filter((s) => s.startsWith('@actions/')),
        file,
      ).toEqual([]);
    }
  });
});
