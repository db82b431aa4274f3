import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PLANNING_PAGE, renderPlanBlocks } from '../../scripts/plan/docs.ts';

describe('the planning page', () => {
  it('shows the plan, the chart and the sweep as the current results and prices give them', () => {
    const page = readFileSync(PLANNING_PAGE, 'utf8');

    const { text, charts } = renderPlanBlocks(page);

    expect(text, `${PLANNING_PAGE} is stale: run npm run plan:docs`).toBe(page);
    expect([...charts.keys()]).toEqual(['docs/plan-image-ocr.svg']);
    for (const [path, svg] of charts) {
      expect(existsSync(path), `${path} is missing: run npm run plan:docs`).toBe(true);
      expect(readFileSync(path, 'utf8'), `${path} is stale: run npm run plan:docs`).toBe(svg);
    }
  });

  it('changes when the measured latencies change', () => {
    const page = readFileSync(PLANNING_PAGE, 'utf8');
    const edited = page.replace(/^(1769 MB\s+1\s+)[\d.]+ ms/m, '$1999.9 ms');

    const { text } = renderPlanBlocks(edited);

    expect(edited).not.toBe(page);
    expect(text).toBe(page);
  });
});
