import { describe, expect, it } from 'vitest';
import type { ProxyTarget } from '../../src/config/config.js';
import { decideLive } from '../../src/engine/detect.js';
import { readInclude, renderInclude } from '../../src/proxy/include.js';

const COLORS = ['blue', 'green'] as const;
const PORTS = [8000, 8001] as const;
const TARGET: ProxyTarget = {
  container: 'p1',
  file: '/srv/p1.inc',
  template: 'upstream app {\n    server {host}:{port};\n}\n',
  host: 'localhost',
};

/** The includes a proxy may hold, as detection reads them (its content decides, never its marker alone). */
const INCLUDES = {
  none: null,
  empty: '',
  blue: renderInclude(TARGET, 'blue', 8000),
  green: renderInclude(TARGET, 'green', 8001),
  /** Pointed back at blue by hand in an emergency: the marker of the last deploy (green) stays. */
  'blue by hand, green marker': renderInclude(TARGET, 'green', 8001).replace('localhost:8001', 'localhost:8000'),
  /** Written by hand before any deploy, as the seed pipeline did. */
  'seed blue': 'upstream app { server localhost:8000; }\n',
  /** A marker naming green over content that points at no known color. */
  'green marker only': '# bluegreen-action: color=green port=8001\nupstream app { server elsewhere:9; }\n',
} as const;
type Include = keyof typeof INCLUDES;

const RUNNING = {
  nothing: {},
  blue: { blue: true },
  green: { green: true },
  both: { blue: true, green: true },
} as const;

function decide(includes: Include[], running: keyof typeof RUNNING) {
  return decideLive({
    colors: COLORS,
    pointed: includes.map((name, i) => ({
      container: `p${i + 1}`,
      color: readInclude(INCLUDES[name], TARGET, COLORS, PORTS).color,
    })),
    running: { blue: false, green: false, ...RUNNING[running] },
  });
}

/** includes (one per proxy) × what runs → live color, or a refusal (nothing may change), and the idle colors named. */
const TABLE: [Include[], keyof typeof RUNNING, string | undefined | RegExp, string[]][] = [
  // One proxy, every include against every running set.
  [['none'], 'nothing', undefined, []],
  [['none'], 'blue', 'blue', []],
  [['none'], 'both', /both blue and green are running and no proxy include says which one serves/, []],
  [['empty'], 'green', 'green', []],
  [['blue'], 'nothing', undefined, ['blue']],
  [['blue'], 'blue', 'blue', []],
  [['blue'], 'green', 'green', ['blue']],
  [['blue'], 'both', 'blue', []],
  [['green'], 'both', 'green', []],
  [['green'], 'blue', 'blue', ['green']],
  [['blue by hand, green marker'], 'both', 'blue', []],
  [['seed blue'], 'both', 'blue', []],
  [['seed blue'], 'nothing', undefined, ['blue']],
  [['green marker only'], 'green', 'green', []],
  [['green marker only'], 'both', /both blue and green are running/, []],
  // Several proxies.
  [['blue', 'blue'], 'both', 'blue', []],
  [['blue', 'green'], 'both', /the proxies disagree on the live color \(p1 → blue, p2 → green\)/, []],
  [['blue', 'green'], 'green', 'green', ['blue']],
  [['blue', 'none'], 'both', 'blue', []],
  [['blue by hand, green marker', 'green'], 'both', /disagree/, []],
  [['green', 'seed blue'], 'blue', 'blue', ['green']],
];

describe('decideLive: which color serves', () => {
  it.each(TABLE)('includes %j, running %s → %s', (includes, running, expected, idle) => {
    const d = decide(includes, running);
    if (expected instanceof RegExp) {
      expect(d.refused).toMatch(expected);
      expect(d.live).toBeUndefined();
    } else {
      expect(d.refused).toBeUndefined();
      expect(d.live).toBe(expected);
    }
    expect(d.idlePointed).toEqual(idle);
  });
});
