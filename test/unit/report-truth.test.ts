// What the report tells must be what the engine did: cases where they once disagreed.
import { describe, expect, it } from 'vitest';
import { outputsOf, summaryMarkdown } from '../../src/report.js';
import {
  dryRunUnfinishedResult,
  statusUnfinishedBlueStoppedResult,
  recoveryFailedResult,
  statusThenDeployResults,
  statusUnfinishedResult,
} from './results.js';

describe('the report tells only what the engine did', () => {
  it('a child process that the recovery could NOT end is not listed among the child processes ended', async () => {
    const result = await recoveryFailedResult();
    expect(result.error).toMatch(/could not end process\(es\) 4242/);
    const md = summaryMarkdown(result);
    expect(md).not.toMatch(/\| child processes ended \| [^|\n]*\b4242\b/);
  });
});

describe('read-only runs that find an include written but never loaded agree on the live color', () => {
  // A dead deploy of green wrote green's include and never reloaded the proxy: Nginx loads blue, as the journal
  // tells, while the include file names green.

  it('status: the live color is the one the proxies load, before and now, in the outputs and the summary', async () => {
    const result = await statusUnfinishedResult();
    expect(result.interrupted?.serving).toBe('blue');
    const outputs = outputsOf(result);
    expect(outputs.color).toBe('blue');
    expect(outputs['previous-color']).toBe('blue');
    const md = summaryMarkdown(result);
    expect(md).toContain('| live color before | blue (port 8000) |');
    expect(md).toContain('| the proxies load now | blue |');
  });

  it('dry-run: the live color is the one the proxies load, as status says', async () => {
    const result = await dryRunUnfinishedResult();
    expect(result.interrupted?.serving).toBe('blue');
    expect(summaryMarkdown(result)).toContain('| live color now | blue (port 8000) |');
    expect(result.plan[1]).toMatch(/^live color blue \(port 8000\); deploy green/);
  });

  it('status does not claim to know what serves once the deploy is dealt with: the next deploy completes it', async () => {
    const { status, deploy } = await statusThenDeployResults();
    expect(deploy.interrupted).toMatchObject({
      serving: 'green',
      action: expect.stringMatching(/switch to green was completed/),
    });
    const md = summaryMarkdown(status);
    expect(md).toContain('| the proxies load now | blue |');
    expect(md).not.toContain('serving once dealt with');
  });

  it('status: a color the proxies load but that no longer runs is not live; what runs and the includes decide', async () => {
    const result = await statusUnfinishedBlueStoppedResult();
    expect(result.interrupted?.serving).toBe('blue');
    expect(outputsOf(result)).toMatchObject({ color: 'green', 'previous-color': 'green' });
    expect(summaryMarkdown(result)).toContain('| the proxies load now | blue |');
  });
});
