// A hand-written SVG of one swap per tool: responses per 100 ms stacked by the color that answered, failures in
// red, the deploy's phases as labelled bands, the new color's readiness and the switch as vertical lines.
import { failed } from './load.mjs';

const BIN_MS = 100;
const WIDTH = 1100;
const PANEL_H = 330;
const M = { left: 70, right: 20, top: 62, bottom: 50 }; // inside a panel
const HEADER_H = 96;
const COLORS = { blue: '#1f77b4', green: '#2ca02c', fail: '#d62728', other: '#7f7f7f' };
const PHASE_FILL = {
  detect: '#eeeeee',
  up: '#fde9c9',
  health: '#e6dcf5',
  switch: '#fbd5d5',
  drain: '#d6eef0',
  watch: '#d6eef0',
  cleanup: '#e3e3e3',
};

export const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
export const f = (x) => Math.round(x * 10) / 10;

/** Responses per bin by end time: { blue, green, other, fail } counts. */
function bins(records, t0, fromMs, toMs) {
  const n = Math.ceil((toMs - fromMs) / BIN_MS);
  const out = Array.from({ length: n }, () => ({ blue: 0, green: 0, other: 0, fail: 0 }));
  for (const r of records) {
    const i = Math.floor((r.e - t0 - fromMs) / BIN_MS);
    if (i < 0 || i >= n) continue;
    if (failed(r)) out[i].fail++;
    else if (r.c === 'blue' || r.c === 'green') out[i][r.c]++;
    else out[i].other++;
  }
  return out;
}

export function niceStep(range, target) {
  const raw = range / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? raw;
}

/**
 * @param panels [{ title, records, t0, figures }] figures: the swap's figures (phases and times relative to t0)
 */
export function swapChart(panels, { title, subtitle }) {
  const fromMs = -1000;
  const toMs = Math.max(...panels.map((p) => Math.max(...p.records.map((r) => r.e - p.t0)))) + 200;
  const allBins = panels.map((p) => bins(p.records, p.t0, fromMs, toMs));
  // Headroom above the tallest bar keeps the marker labels clear of the bars.
  const yMax = Math.max(5, ...allBins.flat().map((b) => b.blue + b.green + b.other + b.fail)) * 1.45;
  const height = HEADER_H + panels.length * PANEL_H;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="${WIDTH / 2}" y="40" text-anchor="middle" fill="#444">${esc(subtitle)}</text>`,
    legend(60),
  ];
  panels.forEach((p, i) => parts.push(panel(p, allBins[i], { y: HEADER_H + i * PANEL_H, fromMs, toMs, yMax })));
  parts.push('</svg>');
  return parts.join('\n');
}

/** Two rows: what the bars mean, then what the vertical lines mean. */
function legend(y) {
  const rows = [
    [
      ['rect', COLORS.blue, 'answered by blue'],
      ['rect', COLORS.green, 'answered by green'],
      ['rect', COLORS.fail, 'failed (non-2xx or no answer), also marked ▲ under the axis'],
      ['band', '#e6dcf5', "the deploy's phases (bands)"],
    ],
    [
      ['dash', '#555', 'new color ready (app listening)'],
      ['dot', '#7b3fb5', 'Docker HEALTHCHECK healthy'],
      ['line', '#000', 'switch (first answer of the new color)'],
    ],
  ];
  const out = [];
  rows.forEach((items, r) => {
    let x = 75;
    const ly = y + r * 18;
    for (const [shape, color, label] of items) {
      if (shape === 'rect') out.push(`<rect x="${x}" y="${ly - 10}" width="14" height="12" fill="${color}"/>`);
      if (shape === 'band')
        out.push(
          `<rect x="${x}" y="${ly - 10}" width="14" height="12" fill="${color}" stroke="#999" stroke-width="0.5"/>`,
        );
      const dash = { dash: '4 2', dot: '2 2', line: '' }[shape];
      if (dash !== undefined) {
        out.push(
          `<line x1="${x}" y1="${ly - 4}" x2="${x + 14}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
        );
      }
      out.push(`<text x="${x + 19}" y="${ly}">${esc(label)}</text>`);
      x += 40 + label.length * 6.8;
    }
  });
  return out.join('\n');
}

function panel(p, binned, { y, fromMs, toMs, yMax }) {
  const plot = { x: M.left, y: y + M.top, w: WIDTH - M.left - M.right, h: PANEL_H - M.top - M.bottom };
  const X = (ms) => plot.x + ((ms - fromMs) / (toMs - fromMs)) * plot.w;
  const Y = (n) => plot.y + plot.h - (n / yMax) * plot.h;
  const out = [`<g>`, `<text x="${plot.x}" y="${y + 16}" font-size="14" font-weight="bold">${esc(p.title)}</text>`];
  out.push(...phaseBands(p.figures.phases, X, plot));
  out.push(...bars(binned, X, Y, fromMs));
  out.push(...axes(plot, X, Y, fromMs, toMs, yMax));
  out.push(...markers(p.figures.times, X, plot));
  out.push('</g>');
  return out.join('\n');
}

/** Phase bands over the plot, their names above it on two alternating rows so that narrow ones stay legible. */
function phaseBands(phases, X, plot) {
  const out = [];
  phases.forEach((ph, i) => {
    const x1 = X(ph.start);
    const w = Math.max(1.5, X(ph.end) - x1);
    out.push(
      `<rect x="${f(x1)}" y="${plot.y}" width="${f(w)}" height="${plot.h}" fill="${PHASE_FILL[ph.name] ?? '#eeeeee'}" stroke="#bbb" stroke-width="0.5"/>`,
    );
    const row = i % 2;
    const ly = plot.y - 8 - row * 15;
    const cx = x1 + w / 2;
    const label = `${ph.name}${ph.ok ? '' : ' (failed)'} ${(Math.max(0, ph.end - ph.start) / 1000).toFixed(1)} s`;
    out.push(`<line x1="${f(cx)}" y1="${ly + 2}" x2="${f(cx)}" y2="${plot.y}" stroke="#999" stroke-width="0.5"/>`);
    out.push(`<text x="${f(cx)}" y="${ly}" text-anchor="middle" font-size="11" fill="#333">${esc(label)}</text>`);
  });
  return out;
}

function bars(binned, X, Y, fromMs) {
  const out = [];
  binned.forEach((b, i) => {
    const x = X(fromMs + i * BIN_MS);
    const w = Math.max(1, X(fromMs + (i + 1) * BIN_MS) - x - 0.6);
    let base = 0;
    for (const key of ['blue', 'green', 'other', 'fail']) {
      if (!b[key]) continue;
      const top = base + b[key];
      out.push(
        `<rect x="${f(x)}" y="${f(Y(top))}" width="${f(w)}" height="${f(Y(base) - Y(top))}" fill="${COLORS[key]}"/>`,
      );
      base = top;
    }
    // A failure is easy to miss in a tall bar: mark its bin below the axis as well.
    if (b.fail)
      out.push(
        `<path d="M${f(x + w / 2)} ${f(Y(0) + 3)} l-4 8 h8 z" fill="${COLORS.fail}"><title>${b.fail} failed</title></path>`,
      );
  });
  return out;
}

function axes(plot, X, Y, fromMs, toMs, yMax) {
  const out = [
    `<line x1="${plot.x}" y1="${plot.y + plot.h}" x2="${plot.x + plot.w}" y2="${plot.y + plot.h}" stroke="#000"/>`,
    `<line x1="${plot.x}" y1="${plot.y}" x2="${plot.x}" y2="${plot.y + plot.h}" stroke="#000"/>`,
  ];
  const xStep = niceStep((toMs - fromMs) / 1000, 14) * 1000;
  for (let t = Math.ceil(fromMs / xStep) * xStep; t <= toMs; t += xStep) {
    out.push(
      `<line x1="${f(X(t))}" y1="${plot.y + plot.h}" x2="${f(X(t))}" y2="${plot.y + plot.h + 5}" stroke="#000"/>`,
    );
    out.push(`<text x="${f(X(t))}" y="${plot.y + plot.h + 18}" text-anchor="middle">${t / 1000}</text>`);
  }
  const yStep = niceStep(yMax, 5);
  for (let n = 0; n <= yMax; n += yStep) {
    out.push(
      `<line x1="${plot.x - 5}" y1="${f(Y(n))}" x2="${plot.x + plot.w}" y2="${f(Y(n))}" stroke="${n ? '#ddd' : '#000'}" stroke-width="0.6"/>`,
    );
    out.push(`<text x="${plot.x - 8}" y="${f(Y(n) + 4)}" text-anchor="end">${n}</text>`);
  }
  out.push(
    `<text x="${plot.x + plot.w / 2}" y="${plot.y + plot.h + 38}" text-anchor="middle">time since the deploy started (s)</text>`,
  );
  const cy = plot.y + plot.h / 2;
  out.push(
    `<text x="${plot.x - 48}" y="${cy}" text-anchor="middle" transform="rotate(-90 ${plot.x - 48} ${cy})">requests per 100 ms</text>`,
  );
  return out;
}

function markers(times, X, plot) {
  const out = [];
  const line = (t, style, label, dy) => {
    if (t === null || t === undefined) return;
    const [stroke, dash] = { ready: ['#555', '5 3'], healthy: ['#7b3fb5', '2 2'], switch: ['#000', ''] }[style];
    out.push(
      `<line x1="${f(X(t))}" y1="${plot.y}" x2="${f(X(t))}" y2="${plot.y + plot.h}" stroke="${stroke}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
    );
    out.push(
      `<text x="${f(X(t) + 4)}" y="${plot.y + dy}" font-size="11" fill="${stroke}" stroke="#fff" stroke-width="3" paint-order="stroke">${esc(label)}</text>`,
    );
  };
  const s = (t) => `${(t / 1000).toFixed(2)} s`;
  line(times.ready, 'ready', `ready ${s(times.ready)}`, 14);
  line(times.dockerHealthy, 'healthy', `Docker healthy ${s(times.dockerHealthy)}`, 28);
  line(times.switch, 'switch', `switch ${s(times.switch)}`, 42);
  return out;
}
