/**
 * The configuration `npm run plan -- --write` produces goes through `cdk synth` as
 * `cdk deploy -c inferletConfig=<file>` would take it (bundling skipped, cdk-nag on), and the template
 * carries the plan: the chosen memory, provisioned concurrency, a GPU service of the planned type.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferletApp } from '../../infra/app.ts';
import type { LayerBuild } from '../../layers/build-layer.ts';
import { buildOnnxRuntimeLayer } from '../../layers/onnxruntime/build.ts';
import { buildSharpLayer } from '../../layers/sharp/build.ts';
import { runPlanCli } from '../../scripts/plan/cli.ts';

type Json = Record<string, unknown>;

let work: string;
let layers: LayerBuild[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'inferlet-plan-synth-'));
  layers = [buildOnnxRuntimeLayer(join(work, 'ort')), buildSharpLayer(join(work, 'sharp'))];
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Plans with `args`, writes the configuration, synthesises the app with it; the plan and the template. */
function planAndSynth(name: string, args: readonly string[]) {
  const file = join(work, `${name}.json`);
  const run = runPlanCli([...args, '--write', file, '--json']);
  expect(run.exitCode, run.stderr).toBe(0);
  const { context } = JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Json };
  const { app } = createInferletApp(
    {
      context: {
        ...context,
        'aws:cdk:bundling-stacks': [],
        'aws:cdk:disable-asset-staging': true,
        inferletConfig: file,
      },
      outdir: mkdtempSync(join(work, 'cdk.out-')),
    },
    {
      nativeLayers: {
        buildOnnxRuntime: () => layers[0] as LayerBuild,
        buildSharp: () => layers[1] as LayerBuild,
      },
    },
  );
  const template = Template.fromJSON(app.synth().getStackByName('Inferlet').template);
  return { plan: JSON.parse(run.stdout).plan, template };
}

describe('a planned configuration', () => {
  it('synthesises with the planned memory and provisioned concurrency on Lambda', () => {
    const { plan, template } = planAndSynth('lambda', ['--task', 'image/ocr', '--rps', '200']);
    const chosen = plan.lambda.chosen as { option: { memoryMb: number }; mode: string; environments: number };

    expect(chosen.mode).toBe('provisioned');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('image'),
      MemorySize: chosen.option.memoryMb,
    });
    template.hasResourceProperties('AWS::Lambda::Alias', {
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: chosen.environments },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 300 }),
    });
  });

  it('synthesises a GPU service of the planned instance type where only the GPU tier meets the p95', () => {
    const { plan, template } = planAndSynth('gpu', ['--task', 'image/ocr', '--rps', '200', '--p95-ms', '50']);

    expect(plan.cheaper).toBe('gpu');
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceType: 'g4dn.xlarge' }),
    });
  });
});
