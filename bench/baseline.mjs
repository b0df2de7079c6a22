// THE BASELINE: a faithful re-implementation of the seed's Jenkins pipeline
// (shared/reference/seed-jenkins-blue-green.md), the manual process this project replaces. It is NOT this
// project's code, and it keeps the seed's behaviour, flaws included:
//   - the live color is guessed from a container name (`docker ps -q -f name=...-blue`);
//   - `docker-compose -f docker-compose.yml -f docker-compose.<color>.yml up -d --build` (the shared file too);
//     called here with the Compose the benchmark chose for both tools (`docker compose` for v2, the default, or
//     `docker-compose` for v1: the stack's compose), so that the two tools differ by what they do, not by their
//     Compose;
//   - health: `curl -s` of the health URL up to 10 times, 10 s apart; any answer counts (a 500 page too), only a
//     failed curl (no connection, no response) is retried;
//   - the include is rewritten and `nginx -s reload` sent, without `nginx -t` and without waiting for the new
//     workers;
//   - the old color is taken down at once: `docker-compose -f docker-compose.<old>.yml down`, no drain;
//   - on any failure, the seed's post-failure block: logs, down of the new color (with the shared file), the
//     include pointed back at the old color and a reload.
// Differences, both forced by the benchmark's layout and shared with the action: one proxy instead of two, and the
// include names the color's container (`server <project>-dev-<color>:8000;`) instead of `localhost:<port>`, which
// inside a bridge-networked Nginx container is the proxy itself and would never reach the app. Commands are
// argument arrays, not shell strings.
import fs from 'node:fs/promises';
import path from 'node:path';
import { composeArgs } from './lib/compose.mjs';
import { now, run, sleep } from './lib/proc.mjs';
import { HEALTH_PATH } from './lib/stack.mjs';

const MAX_ATTEMPTS = 10;
const RETRY_SLEEP_MS = 10_000;

/** A Jenkins `bat` step running the stack's compose with these arguments. */
const batCompose = (log, stack, args, options) => bat(log, ...composeArgs(stack.compose, args), options);

/** A Jenkins `bat` step: a non-zero exit code fails the stage. */
async function bat(log, file, args, options) {
  log.push(`+ ${file} ${args.join(' ')}`);
  const r = await run(file, args, options);
  log.push(r.stdout.trimEnd(), r.stderr.trimEnd());
  if (r.code !== 0) throw Object.assign(new Error(`${file} ${args.join(' ')} exited ${r.code}`), { result: r });
  return r;
}

/** Deploys the idle color of stack the way the seed's pipeline does; resolves with what happened, when. */
export async function baselineDeploy(stack, _options, { version }) {
  const log = [];
  const phases = [];
  const startedAt = now();
  const env = { APP_VERSION: String(version) };
  const cwd = stack.dir; // no -p: compose takes the project name from the directory, as in the Jenkins workspace
  let composeMs = 0;
  const phase = async (name, fn, { compose = false } = {}) => {
    const start = now();
    let ok = false;
    try {
      const value = await fn();
      ok = true;
      return value;
    } finally {
      const end = now();
      phases.push({ name, start, end, ms: end - start, ok });
      if (compose) composeMs += end - start;
    }
  };

  // stage('Determine Deploy Target')
  const blue = await phase('detect', () =>
    bat(log, 'docker', ['ps', '-q', '-f', `name=${stack.appContainer('blue')}`]),
  );
  const blueExists = blue.stdout.trim() !== '';
  const current = blueExists ? 'blue' : 'green';
  const deploy = blueExists ? 'green' : 'blue';
  const port = { blue: stack.ports.blue, green: stack.ports.green };
  log.push(
    `Current running on ${current} with port ${port[current]}`,
    `Deploying to ${deploy} with port ${port[deploy]}`,
  );

  try {
    // stage('Deploy New Version')
    await phase(
      'up',
      () =>
        batCompose(
          log,
          stack,
          ['-f', 'docker-compose.yml', '-f', `docker-compose.${deploy}.yml`, 'up', '-d', '--build'],
          {
            cwd,
            env,
          },
        ),
      { compose: true },
    );
    // stage('Health Check')
    await phase('health', () => healthCheck(log, `http://localhost:${port[deploy]}${HEALTH_PATH}`));
    // stage('Switch Traffic')
    await phase('switch', async () => {
      await writeInclude(stack, deploy);
      await bat(log, 'docker', ['exec', stack.proxyContainer, 'nginx', '-s', 'reload']);
    });
    // stage('Cleanup Old Version'): `if (env.CURRENT_COLOR != null)` is always true
    await phase(
      'cleanup',
      () => batCompose(log, stack, ['-f', `docker-compose.${current}.yml`, 'down'], { cwd, env }),
      { compose: true },
    );
    return {
      ok: true,
      code: 0,
      startedAt,
      endedAt: now(),
      phases,
      composeMs,
      drainMs: 0,
      log: log.join('\n'),
      from: current,
      to: deploy,
    };
  } catch (error) {
    log.push(`FAILED: ${error.message}`);
    // post { failure { ... } }
    await phase('post-failure', () => postFailure(log, stack, { cwd, env, current, deploy }));
    return {
      ok: false,
      code: 1,
      startedAt,
      endedAt: now(),
      phases,
      composeMs,
      drainMs: 0,
      log: log.join('\n'),
      from: current,
      to: deploy,
    };
  }
}

/** Any non-empty answer is "healthy"; a failed curl (exit code != 0) sleeps 10 s; at most 10 attempts. */
async function healthCheck(log, url) {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const r = await run('curl', ['-s', url], { timeoutMs: 120_000 });
    if (r.code === 0) {
      if (r.stdout.trim()) {
        log.push('New version is healthy!');
        return;
      }
      continue; // the seed's loop: an empty answer neither counts nor sleeps
    }
    log.push(`Attempt ${attempt}/${MAX_ATTEMPTS} failed`);
    if (attempt < MAX_ATTEMPTS) await sleep(RETRY_SLEEP_MS);
  }
  throw new Error(`New version failed health check after ${MAX_ATTEMPTS} attempts`);
}

/** The seed echoes the include line by line into nginx/service-url.inc (in place, not atomically). */
function writeInclude(stack, color) {
  return fs.writeFile(path.join(stack.dir, stack.includeFile), stack.template.replaceAll('{color}', color));
}

/** Every command is tried, as each `bat` of the post block runs in turn until one fails the block. */
async function postFailure(log, stack, { cwd, env, current, deploy }) {
  const files = ['-f', 'docker-compose.yml', '-f', `docker-compose.${deploy}.yml`];
  try {
    await batCompose(log, stack, [...files, 'logs'], { cwd, env });
    await batCompose(log, stack, [...files, 'down'], { cwd, env });
    await writeInclude(stack, current);
    await bat(log, 'docker', ['exec', stack.proxyContainer, 'nginx', '-s', 'reload']);
  } catch (error) {
    log.push(`post-failure step failed: ${error.message}`);
  }
}
