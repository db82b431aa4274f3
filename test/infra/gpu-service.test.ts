import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferletApp } from '../../infra/app.ts';
import type { LayerBuild } from '../../layers/build-layer.ts';
import { buildOnnxRuntimeLayer } from '../../layers/onnxruntime/build.ts';
import { buildSharpLayer } from '../../layers/sharp/build.ts';

type Json = Record<string, unknown>;

let workDir: string;
let layers: { buildOnnxRuntime: () => LayerBuild; buildSharp: () => LayerBuild };

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'inferlet-gpu-infra-'));
  const ort = buildOnnxRuntimeLayer(join(workDir, 'layers', 'onnxruntime'));
  const sharp = buildSharpLayer(join(workDir, 'layers', 'sharp'));
  layers = { buildOnnxRuntime: () => ort, buildSharp: () => sharp };
});

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** Synthesises the image task's GPU tier with `gpu` settings: its server's environment and Dockerfile. */
function synthGpu(gpu: Json): { environment: Record<string, unknown>; dockerfiles: string[] } {
  const { context } = JSON.parse(readFileSync('cdk.json', 'utf8')) as { context: Json };
  const outdir = mkdtempSync(join(workDir, 'cdk.out-'));
  const { app, stack } = createInferletApp(
    {
      context: {
        ...context,
        'aws:cdk:bundling-stacks': [],
        'aws:cdk:disable-asset-staging': true,
        inferlet: { region: 'eu-west-1', tasks: { image: { gpu } } },
      },
      outdir,
    },
    { nativeLayers: layers },
  );
  const template = Template.fromStack(stack).toJSON() as {
    Resources: Record<string, { Type: string; Properties: Json }>;
  };
  app.synth();
  const task = Object.values(template.Resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition');
  const containers = (task?.Properties.ContainerDefinitions ?? []) as Json[];
  const server = containers.find((c) => c.Name === 'server') as Json;
  const assets = JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.assets.json`), 'utf8')) as {
    dockerImages: Record<string, { source: { dockerFile?: string } }>;
  };
  return {
    environment: Object.fromEntries(
      (server.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
    ),
    dockerfiles: Object.values(assets.dockerImages).map((image) => image.source.dockerFile ?? 'Dockerfile'),
  };
}

describe('the GPU service image', () => {
  it('builds the WebGPU Dockerfile by default, each model on auto', () => {
    const { environment, dockerfiles } = synthGpu({});

    expect(dockerfiles).toEqual(['Dockerfile']);
    expect(environment.EXECUTION_PROVIDER).toBe('auto');
    expect(environment.MODEL_TIER).toBe('gpu');
  });

  it('builds Dockerfile.cuda on the CUDA provider where the configuration asks for it', () => {
    const { environment, dockerfiles } = synthGpu({ image: 'cuda' });

    expect(dockerfiles).toEqual(['Dockerfile.cuda']);
    expect(environment.EXECUTION_PROVIDER).toBe('cuda');
  });
});
