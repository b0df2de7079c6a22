// bench:reload's report: the table of the scenarios side by side and the sentences of what it shows, every figure
// from bench/results/reload-floor/latest.json. bench/reload-floor.mjs writes latest.md with them, and
// scripts/readme-figures.mjs the README's `bench:reload-floor` block.

/** The scenarios, in the order of the table's columns. */
export const SCENARIOS = [
  { key: 'baseline', label: 'no reload (baseline)' },
  { key: 'reload', label: 'bare `nginx -s reload`' },
  { key: 'swap', label: 'swap by the action (one reload)' },
  { key: 'dnat', label: 'no reload: DNAT rule' },
  { key: 'dnsOverlap', label: 'no reload: DNS name, overlap' },
  { key: 'dnsMove', label: 'no reload: DNS name, move' },
];

const n = (x) => (x === null || x === undefined ? '–' : x.toLocaleString('en-US'));
/** `1 swap`, `12 swaps`. */
const count = (x, one, many = `${one}s`) => `${n(x)} ${x === 1 ? one : many}`;
/** Milliseconds as `15 ms` below a second, `1.23 s` above. */
export const ms = (x) =>
  x === null || x === undefined ? '–' : Math.abs(x) < 1000 ? `${Math.round(x)} ms` : `${(x / 1000).toFixed(2)} s`;
const range = (s, fmt = n) =>
  !s ? '–' : s.min === s.max ? fmt(s.median) : `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;
const byError = (by) => {
  const parts = Object.entries(by)
    .sort((a, b) => b[1] - a[1])
    .map(([what, k]) => `${what} ${k}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
};

/** The scenarios this run has, in table order. */
const present = (results) => SCENARIOS.filter((s) => results.scenarios[s.key]);

export function reloadMachineLine(results) {
  const m = results.machine;
  return (
    `${m.date.slice(0, 16).replace('T', ' ')} UTC · ${m.cpuModel}, ${m.cores} cores · Docker ${m.docker.server} · ` +
    `${m.composeCommand} ${m.compose} · ${m.nginx} · Node ${m.node} · load average (1/5/15 min) at start ` +
    `${m.loadAverage.join(' ')}, at end ${(m.loadAverageEnd ?? []).join(' ')}`
  );
}

export function reloadBenchOf(results) {
  const b = results.bench;
  return `bench:reload format ${b.format}${b.commit ? ` at commit ${b.commit}${b.dirty ? ' with uncommitted changes' : ''}` : ''}`;
}

export function reloadSettingsLine(results) {
  const c = results.config;
  const calibration = results.calibration.map((x) => `${x.concurrency}: ${n(x.perSecond)}/s`).join(', ');
  const scenarioKs = present(results)
    .map((s) => `${results.scenarios[s.key].summary.events} ${s.key === 'baseline' ? 'windows' : 'events'} (${s.key})`)
    .join(', ');
  return (
    `A closed loop of ${c.concurrency} fresh-connection GETs (each loop sends the next as soon as the last answer ` +
    `ended; no keep-alive) sent to the proxy container's address on its network (not through the port Docker ` +
    `publishes, whose userland proxy would re-proxy every connection); ${c.concurrency} is the concurrency that ` +
    `served the most of ${results.calibration.map((x) => x.concurrency).join(', ')} tried for ` +
    `${ms(c.calibrationMs)} each (requests/s: ${calibration}). With it: one /slow?ms=${c.slowMs} request every ` +
    `${c.slowEveryMs} ms on a fresh connection (about ${Math.round(c.slowMs / c.slowEveryMs)} in flight at any ` +
    `moment) and one GET every ${c.keepaliveEveryMs} ms on 4 keep-alive connections, never resent. ${scenarioKs}; ` +
    `bare reloads and the no-reload switches every ${ms(c.gapMs)} (the DNS ones every ${ms(c.dnsGapMs)}), the ` +
    `baseline in windows as long; swaps back to back: \`node dist/cli/index.js deploy\` with ${c.composeCommand}, ` +
    `health-interval ${c.healthInterval} s, drain-seconds ${c.drainSeconds}, cleanup ${c.cleanup}, app start-up ` +
    `${c.startupDelayMs} ms. Whole run (one command): ${Math.round(results.durationMs / 1000)} s.`
  );
}

/** The table: one column per scenario. */
export function reloadTableLines(results) {
  const cols = present(results);
  const sum = (key) => results.scenarios[key].summary;
  const row = (label, cell) => `| ${label} | ${cols.map((s) => cell(sum(s.key), s.key)).join(' | ')} |`;
  const lines = [
    `| figure (median [min–max] over the events) | ${cols.map((s) => s.label).join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
    row('events (reloads, swaps or switches; the baseline: windows)', (x) => n(x.events)),
    row('fresh-connection requests per second', (x) => n(x.fresh.perSecond)),
    row('**failed fresh-connection requests per event**', (x) => `**${range(x.fresh.failedPerEvent)}**`),
    row('↳ in all, by error', (x) => `${n(x.fresh.failed)}${byError(x.fresh.byError)}`),
    row('↳ per 10,000 fresh-connection requests', (x) => n(x.fresh.perTenThousand)),
    row('failed keep-alive requests (no retry) per event; in all', (x) =>
      x.keepalive.requests ? `${range(x.keepalive.failedPerEvent)}; ${n(x.keepalive.failed)}` : '–',
    ),
    row('slow requests in flight at the reload or switch, per event', (x) => range(x.slow.inFlightPerEvent)),
    row(
      '↳ of them lost, in all; slow requests failed in all',
      (x) => `**${n(x.slow.lost)}** of ${n(x.slow.inFlight)}; ${n(x.slow.failed)}`,
    ),
    row('command given → first new-color answer', (x) =>
      x.switch
        ? range(x.switch.firstNewMs, ms) + (x.switch.noNewAnswer ? ` (${x.switch.noNewAnswer} never)` : '')
        : '–',
    ),
    row('split: old-color answers to requests connected after the first new-color one, per switch', (x) =>
      x.switch ? range(x.switch.splitOld) : '–',
    ),
    row('↳ the last of them connected, after the first new-color answer', (x) =>
      x.switch ? range(x.switch.lastOldMs, ms) : '–',
    ),
    row('deploy wall time; drain', (x, key) =>
      key === 'swap' && results.scenarios.swap.deploys
        ? `${range(results.scenarios.swap.deploys.ms, ms)}; ${range(results.scenarios.swap.deploys.drainMs, ms)}`
        : '–',
    ),
  ];
  return lines;
}

/** How each scenario's event is made, for the notes under the table. */
export const METHODS = {
  baseline: 'nothing: the same load in windows as long as the reloads’',
  reload: '`docker exec <proxy> nginx -s reload`, the include unchanged',
  swap: 'one deploy of the other color by the bundled CLI (up, health, the include rewritten and one reload, drain, stop)',
  dnat: 'one netfilter rule in the proxy’s network namespace, replaced: `proxy_pass` goes to a fixed address (192.0.2.10) that the rule translates to the live color’s (`nsenter -t <proxy pid> -n iptables -t nat -R ...`)',
  dnsOverlap:
    '`resolver 127.0.0.11 valid=1s` and `proxy_pass http://$live:8000` with $live a Docker network alias: `docker network connect --alias` of the new color, 1.2 s with both holding the name, then `docker network disconnect` of the old one',
  dnsMove: 'the same name, moved at once: connect the new color with the alias, then disconnect the old one right away',
};

/** Sentences of what the figures say, every number from the results. */
export function reloadSayLines(results) {
  const s = results.scenarios;
  const lines = [];
  const fr = (key) => s[key].summary.fresh;
  const sw = (key) => s[key].summary.switch;
  const slow = (key) => s[key].summary.slow;
  if (s.baseline && s.reload) {
    lines.push(
      `- The reload floor: ${n(fr('reload').failed)} failed fresh-connection requests over ` +
        `${count(s.reload.summary.events, 'bare reload')} (${n(fr('reload').requests)} requests, ${fr('reload').perTenThousand} per 10,000), against ` +
        `${n(fr('baseline').failed)} over ${count(s.baseline.summary.events, 'window')} as long without a reload ` +
        `(${n(fr('baseline').requests)} requests); keep-alive requests without retry failed ` +
        `${count(s.reload.summary.keepalive.failed, 'time')} with the reloads, ` +
        `${count(s.baseline.summary.keepalive.failed, 'time')} without.`,
    );
  }
  if (s.swap) {
    const d = s.swap.deploys;
    lines.push(
      `- Swaps by the action: ${n(fr('swap').failed)} failed fresh-connection requests over ` +
        `${count(s.swap.summary.events, 'swap')} (${fr('swap').perTenThousand} per 10,000)${byError(fr('swap').byError)}; ${n(slow('swap').lost)} of ` +
        `${n(slow('swap').inFlight)} slow requests in flight at the switch lost; ${d.ok}/${s.swap.summary.events} ` +
        `deploys succeeded; the switch (its \`== switch ==\` line → the first new-color answer) took ` +
        `${ms(sw('swap').firstNewMs?.median)} (median); the old color still answered ` +
        `${n(sw('swap').splitOldTotal)} requests connected after the first new-color answer (the old workers until the ` +
        `reload reached them), the last connected ${ms(sw('swap').lastOldMs?.max)} after it at most.`,
    );
  }
  if (s.dnat) {
    lines.push(
      `- DNAT switch: ${n(fr('dnat').failed)} failed fresh-connection requests over ` +
        `${count(s.dnat.summary.events, 'switch', 'switches')}` +
        `${byError(fr('dnat').byError)}, ${n(slow('dnat').lost)} of ${n(slow('dnat').inFlight)} slow requests in ` +
        `flight lost, ${n(sw('dnat').splitOldTotal)} old-color answers after the first new-color one; the rule's ` +
        `command → the first new-color answer: ${ms(sw('dnat').firstNewMs?.median)} (median).`,
    );
  } else if (results.unavailable?.dnat) {
    lines.push(`- DNAT switch: not run here: ${results.unavailable.dnat}.`);
  }
  for (const key of ['dnsOverlap', 'dnsMove']) {
    if (!s[key]) continue;
    lines.push(
      `- DNS name, ${key === 'dnsOverlap' ? 'overlap' : 'move'}: ${n(fr(key).failed)} failed fresh-connection ` +
        `requests over ${count(s[key].summary.events, 'switch', 'switches')}${byError(fr(key).byError)}, ${n(slow(key).lost)} of ` +
        `${n(slow(key).inFlight)} slow requests in flight lost (${n(slow(key).failed)} slow requests failed in all), ` +
        `${n(sw(key).splitOldTotal)} old-color answers after the first new-color one, the last connected ` +
        `${ms(sw(key).lastOldMs?.median)} after it (median); fresh-connection requests per second: ` +
        `${n(fr(key).perSecond)} (the baseline: ${n(fr('baseline').perSecond)}).`,
    );
  }
  // The issue's bar for a mode: fewer failed fresh-connection requests than the swap, and no in-flight request
  // lost, under the same load.
  if (s.swap) {
    const bar = fr('swap').failed;
    const barKeepalive = s.swap.summary.keepalive.failed;
    const compare = (a, b) => (a < b ? 'fewer' : a === b ? 'as many' : 'more');
    for (const key of ['dnat', 'dnsOverlap', 'dnsMove']) {
      if (!s[key]) continue;
      const f = fr(key).failed;
      const k = s[key].summary.keepalive.failed;
      const lost = slow(key).failed;
      const split = sw(key).splitOldTotal;
      const label = SCENARIOS.find((x) => x.key === key).label.replace(/^no reload: /, '');
      const passes = f < bar && lost === 0;
      lines.push(
        `- ${label[0].toUpperCase()}${label.slice(1)} against the swap: ${compare(f, bar)} failed fresh-connection ` +
          `requests (${n(f)} and ${n(bar)}), ${compare(k, barKeepalive)} failed keep-alive requests (${n(k)} and ` +
          `${n(barKeepalive)}), ${lost ? `${n(lost)} slow requests failed` : 'no slow request lost'}, ` +
          `${split ? `${n(split)} old-color answers after the switch` : 'no old-color answer after the switch'}: ` +
          `${passes ? 'it passes' : 'it does not pass'} the bar for a mode (fewer failed fresh-connection requests ` +
          'than the swap, and no request in flight lost).',
      );
    }
  }
  return lines;
}

/** latest.md. */
export function reloadMarkdown(results) {
  const lines = [
    '# The reload floor: failed fresh-connection requests per reload, per swap, and per switch without reload',
    '',
    `${reloadMachineLine(results)}. Made by ${reloadBenchOf(results)}.`,
    '',
    reloadSettingsLine(results),
    '',
    ...reloadTableLines(results),
    '',
    'How each event is made:',
    '',
    ...present(results).map((x) => `- ${x.label}: ${METHODS[x.key]}.`),
    '',
    "An event's window runs from its command to the next event's (the baseline's: as long as a reload's), and " +
      'every request that ended in it counts for it. A switch is where the first answer from the new color ' +
      'came; the slow requests in flight are those sent before it and ended after it; the split counts the ' +
      'requests whose connection was made after it, and more than 250 ms before the next event (Nginx connects to ' +
      'the upstream some time after the client connected: a later one may have been switched by the next event), ' +
      'that the old color answered.',
    '',
    'What the figures say:',
    '',
    ...reloadSayLines(results),
    '',
    '## Failed requests (the first 100 of each scenario)',
    '',
  ];
  for (const x of present(results)) {
    const failures = results.failures?.[x.key] ?? [];
    lines.push(`- ${x.label}: ${failures.length ? '' : 'none'}`);
    for (const f of failures) {
      lines.push(
        `  - event ${f.event + 1}: ${f.kind} ${f.what}, sent ${ms(f.sent)}, ended ${ms(f.ended)} after the command`,
      );
    }
  }
  lines.push('', 'Raw figures, every event: [latest.json](latest.json).', '');
  return lines.join('\n');
}
