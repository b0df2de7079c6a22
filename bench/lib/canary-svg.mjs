// A hand-written SVG of one canary deploy under load, in the style of svg.mjs: on top, the share of the responses
// that came from the new color in each second (bars, the old color's share stacked above), the percent each step
// asked for (a dashed line) and each step's start (10%, 50%, 100%), the deploy's phases as a strip above;
// below, the requests per second by the color that answered, failures in red (also ▲ under both axes).
import { esc, f, niceStep } from './svg.mjs';

const WIDTH = 1100;
const HEADER_H = 96;
const M = { left: 70, right: 20 };
const SHARE = { h: 440, top: 92, bottom: 50 };
const STRIP = { h: 12, gap: 4 }; // the phases' strip above the share plot
const COUNT = { h: 230, top: 34, bottom: 50 };
const COLORS = { old: '#1f77b4', next: '#2ca02c', fail: '#d62728', target: '#000', step: '#7b3fb5' };
const PHASE_FILL = {
  detect: '#eeeeee',
  up: '#fde9c9',
  health: '#e6dcf5',
  switch: '#fbd5d5',
  drain: '#d6eef0',
  watch: '#d6eef0',
  cleanup: '#e3e3e3',
  restore: '#fbd5d5',
};
const canaryFill = (name) => (name.startsWith('canary') ? '#fff4c2' : undefined);

/**
 * @param seconds [{ t (s since the deploy started, the bin's start), old, next, other, failed }]
 * @param phases [{ name, start, end, ok }] ms since the deploy started
 * @param steps [{ name, percent, start, end }] ms since the deploy started: the tool's traffic steps
 * @param colors { old, next } the color names
 */
export function canaryChart({ seconds, phases, steps, colors, end }, { title, subtitle }) {
  const fromMs = Math.min(seconds[0]?.t ?? 0, 0) * 1000;
  const toMs = Math.max((seconds.at(-1)?.t ?? 0) + 1, end / 1000) * 1000;
  const plotW = WIDTH - M.left - M.right;
  const X = (ms) => M.left + ((ms - fromMs) / (toMs - fromMs)) * plotW;
  const height = HEADER_H + SHARE.h + COUNT.h;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="${WIDTH / 2}" y="40" text-anchor="middle" fill="#444">${esc(subtitle)}</text>`,
    legend(60, colors),
  ];
  const share = { x: M.left, y: HEADER_H + SHARE.top, w: plotW, h: SHARE.h - SHARE.top - SHARE.bottom };
  parts.push(
    `<text x="${share.x}" y="${HEADER_H + 16}" font-size="14" font-weight="bold">share of the responses from ${esc(colors.next)}, per second</text>`,
  );
  parts.push(...phaseStrip(phases, X, share));
  parts.push(...shareBars(seconds, X, share));
  parts.push(...axes(share, X, fromMs, toMs, { max: 100, step: 10, unit: '%', label: `% from ${colors.next}` }));
  parts.push(...targetLine(steps, X, share));
  parts.push(...stepMarkers(steps, X, share));

  const top = HEADER_H + SHARE.h;
  const count = { x: M.left, y: top + COUNT.top, w: plotW, h: COUNT.h - COUNT.top - COUNT.bottom };
  const yMax = Math.max(5, ...seconds.map((s) => s.old + s.next + s.other + s.failed)) * 1.15;
  parts.push(
    `<text x="${count.x}" y="${top + 16}" font-size="14" font-weight="bold">requests per second by the color that answered</text>`,
  );
  parts.push(...countBars(seconds, X, count, yMax));
  parts.push(...axes(count, X, fromMs, toMs, { max: yMax, step: niceStep(yMax, 4), unit: '', label: 'requests/s' }));
  parts.push(...stepMarkers(steps, X, count, false));
  parts.push('</svg>');
  return parts.join('\n');
}

function legend(y, colors) {
  const rows = [
    [
      ['rect', COLORS.next, `answered by ${colors.next}`],
      ['rect', COLORS.old, `answered by ${colors.old}`],
      ['rect', COLORS.fail, 'failed (non-2xx or no answer), also marked ▲ under the axis'],
      ['band', '#fff4c2', "the deploy's phases (strip above the plot)"],
    ],
    [
      ['dash', COLORS.target, `percent the step sends to ${colors.next}`],
      ['line', COLORS.step, "a step's start (the tool's watch of it)"],
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
      if (shape === 'dash' || shape === 'line')
        out.push(
          `<line x1="${x}" y1="${ly - 4}" x2="${x + 14}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${shape === 'dash' ? ' stroke-dasharray="5 3"' : ''}/>`,
        );
      out.push(`<text x="${x + 19}" y="${ly}">${esc(label)}</text>`);
      x += 40 + label.length * 6.8;
    }
  });
  return out.join('\n');
}

/**
 * The deploy's phases as a strip of labelled bands just above the plot (the 100% bars would hide bands behind them),
 * their names on three alternating rows so that narrow ones stay legible.
 */
function phaseStrip(phases, X, plot) {
  const out = [];
  const sy = plot.y - STRIP.gap - STRIP.h;
  phases.forEach((ph, i) => {
    const x1 = X(ph.start);
    const w = Math.max(1.5, X(ph.end) - x1);
    const fill = PHASE_FILL[ph.name] ?? canaryFill(ph.name) ?? '#eeeeee';
    out.push(
      `<rect x="${f(x1)}" y="${sy}" width="${f(w)}" height="${STRIP.h}" fill="${fill}" stroke="#999" stroke-width="0.5"/>`,
    );
    const ly = sy - 4 - (i % 3) * 13;
    const cx = x1 + w / 2;
    const label = `${ph.name}${ph.ok ? '' : ' (failed)'} ${(Math.max(0, ph.end - ph.start) / 1000).toFixed(1)} s`;
    out.push(`<line x1="${f(cx)}" y1="${ly + 2}" x2="${f(cx)}" y2="${sy}" stroke="#999" stroke-width="0.5"/>`);
    out.push(`<text x="${f(cx)}" y="${ly}" text-anchor="middle" font-size="11" fill="#333">${esc(label)}</text>`);
  });
  return out;
}

const binX = (s, X) => {
  const x = X(s.t * 1000);
  return { x: x + 0.5, w: Math.max(1, X((s.t + 1) * 1000) - x - 1) };
};

function failMark(s, x, w, yAxis) {
  return `<path d="M${f(x + w / 2)} ${f(yAxis + 3)} l-4 8 h8 z" fill="${COLORS.fail}"><title>${s.failed} failed</title></path>`;
}

/** Each second as a 100% bar: the new color's share from the bottom, the old color's above it, failures on top. */
function shareBars(seconds, X, plot) {
  const out = [];
  const Y = (pct) => plot.y + plot.h - (pct / 100) * plot.h;
  for (const s of seconds) {
    const total = s.old + s.next + s.other + s.failed;
    if (!total) continue;
    const { x, w } = binX(s, X);
    let base = 0;
    for (const [key, fill] of [
      ['next', COLORS.next],
      ['old', COLORS.old],
      ['other', '#7f7f7f'],
      ['failed', COLORS.fail],
    ]) {
      if (!s[key]) continue;
      const top = base + (s[key] / total) * 100;
      out.push(
        `<rect x="${f(x)}" y="${f(Y(top))}" width="${f(w)}" height="${f(Y(base) - Y(top))}" fill="${fill}" fill-opacity="0.85"><title>${s.t} to ${s.t + 1} s: ${s[key]} of ${total}</title></rect>`,
      );
      base = top;
    }
    if (s.failed) out.push(failMark(s, x, w, plot.y + plot.h));
  }
  return out;
}

function countBars(seconds, X, plot, yMax) {
  const out = [];
  const Y = (n) => plot.y + plot.h - (n / yMax) * plot.h;
  for (const s of seconds) {
    const { x, w } = binX(s, X);
    let base = 0;
    for (const [key, fill] of [
      ['old', COLORS.old],
      ['next', COLORS.next],
      ['other', '#7f7f7f'],
      ['failed', COLORS.fail],
    ]) {
      if (!s[key]) continue;
      const top = base + s[key];
      out.push(`<rect x="${f(x)}" y="${f(Y(top))}" width="${f(w)}" height="${f(Y(base) - Y(top))}" fill="${fill}"/>`);
      base = top;
    }
    if (s.failed) out.push(failMark(s, x, w, plot.y + plot.h));
  }
  return out;
}

function axes(plot, X, fromMs, toMs, { max, step, unit, label }) {
  const Y = (v) => plot.y + plot.h - (v / max) * plot.h;
  const out = [
    `<line x1="${plot.x}" y1="${plot.y + plot.h}" x2="${plot.x + plot.w}" y2="${plot.y + plot.h}" stroke="#000"/>`,
    `<line x1="${plot.x}" y1="${plot.y}" x2="${plot.x}" y2="${plot.y + plot.h}" stroke="#000"/>`,
  ];
  const xStep = niceStep((toMs - fromMs) / 1000, 16) * 1000;
  for (let t = Math.ceil(fromMs / xStep) * xStep; t <= toMs; t += xStep) {
    out.push(
      `<line x1="${f(X(t))}" y1="${plot.y + plot.h}" x2="${f(X(t))}" y2="${plot.y + plot.h + 5}" stroke="#000"/>`,
    );
    out.push(`<text x="${f(X(t))}" y="${plot.y + plot.h + 18}" text-anchor="middle">${t / 1000}</text>`);
  }
  for (let v = 0; v <= max + 1e-9; v += step) {
    out.push(
      `<line x1="${plot.x - 5}" y1="${f(Y(v))}" x2="${plot.x + plot.w}" y2="${f(Y(v))}" stroke="${v ? '#ddd' : '#000'}" stroke-width="0.6"/>`,
    );
    out.push(`<text x="${plot.x - 8}" y="${f(Y(v) + 4)}" text-anchor="end">${Math.round(v)}${unit}</text>`);
  }
  out.push(
    `<text x="${plot.x + plot.w / 2}" y="${plot.y + plot.h + 38}" text-anchor="middle">time since the deploy started (s)</text>`,
  );
  const cy = plot.y + plot.h / 2;
  out.push(
    `<text x="${plot.x - 48}" y="${cy}" text-anchor="middle" transform="rotate(-90 ${plot.x - 48} ${cy})">${esc(label)}</text>`,
  );
  return out;
}

/** The percent each step asks for, over the step (the tool's watch of it). */
function targetLine(steps, X, plot) {
  if (!steps.length) return [];
  const Y = (pct) => plot.y + plot.h - (pct / 100) * plot.h;
  const d = steps.map((s) => `M${f(X(s.start))} ${f(Y(s.percent))} H${f(X(s.end))}`).join(' ');
  return [
    `<path d="${d}" fill="none" stroke="#fff" stroke-width="5" stroke-opacity="0.8"/>`,
    `<path d="${d}" fill="none" stroke="${COLORS.target}" stroke-width="2" stroke-dasharray="5 3"/>`,
  ];
}

function stepMarkers(steps, X, plot, labels = true) {
  const out = [];
  for (const s of steps) {
    const x = X(s.start);
    out.push(
      `<line x1="${f(x)}" y1="${plot.y}" x2="${f(x)}" y2="${plot.y + plot.h}" stroke="${COLORS.step}" stroke-width="1.5"/>`,
    );
    if (labels)
      out.push(
        `<text x="${f(x + 4)}" y="${plot.y + 14}" font-size="12" font-weight="bold" fill="${COLORS.step}" stroke="#fff" stroke-width="3" paint-order="stroke">${s.percent}%</text>`,
      );
  }
  return out;
}
