/**
 * The deployment's configuration (`infra/config/`): the tasks from the descriptors, the defaults, the
 * schema and its checks across fields, and the models each tier resolves to. No synthesis: the stack's
 * own tests (inferlet-stack.test.ts) synthesise it.
 */
import { describe, expect, it } from 'vitest';
import { ALL_TASKS, TASK_DESCRIPTORS } from '../../functions/core/tasks/descriptors.ts';
import { DEFAULT_TASKS, SUPPORTED_TASKS } from '../../functions/tasks.ts';
import { MODEL_REPOSITORY_DIR } from '../../infra/app.ts';
import {
  DEFAULT_CONFIG,
  InvalidConfigError,
  mergeConfig,
  mergeOverDefaults,
  OPT_IN_TASK_DEFAULTS,
  parseConfig,
  TASK_DEFAULTS,
  TASK_KEYS,
  taskOfKey,
} from '../../infra/config/index.ts';
import { resolveDeployment } from '../../infra/deployment.ts';

/** The tasks the default configuration deploys (every task but text-embed, whose model is imported). */
const DEFAULT_KEYS = TASK_KEYS.filter((key) => DEFAULT_CONFIG.tasks[key]);

describe('the configuration', () => {
  it('configures every task of the registry under its descriptor’s key, with the registry’s route and model', () => {
    const fromInfra = TASK_KEYS.map((key) => {
      const { name, route, defaultModel, mediaTypes } = taskOfKey(key);
      return { name, route, defaultModel, mediaTypes };
    });
    const fromRegistry = Object.values(SUPPORTED_TASKS).map((definition) => ({
      name: definition.name,
      route: definition.route,
      defaultModel: definition.defaultModel,
      mediaTypes: definition.mediaTypes,
    }));

    expect(fromInfra).toEqual(expect.arrayContaining(fromRegistry));
    expect(fromInfra).toHaveLength(fromRegistry.length);
    expect([...TASK_KEYS]).toEqual(ALL_TASKS.map((task) => task.key));
    expect(TASK_DESCRIPTORS['text/embed'].key).toBe('text-embed');
  });

  // text/embed serves an imported model only: no model of it ships, so no default deployment has it.
  it('deploys by default the tasks served by default, and text-embed only where a configuration names it', () => {
    const named = parseConfig(
      mergeOverDefaults({ tasks: { 'text-embed': { lambda: { model: { name: 'e' } } } } }),
    );

    expect(DEFAULT_KEYS.map((key) => taskOfKey(key).name).sort()).toEqual(
      DEFAULT_TASKS.map((task) => task.name).sort(),
    );
    expect(DEFAULT_CONFIG.tasks['text-embed']).toBeUndefined();
    expect(named.tasks['text-embed']).toEqual({
      ...OPT_IN_TASK_DEFAULTS['text-embed'],
      lambda: { ...OPT_IN_TASK_DEFAULTS['text-embed']?.lambda, model: { name: 'e' } },
    });
    expect(Object.keys(named.tasks)).toEqual([...DEFAULT_KEYS, 'text-embed']);
  });

  it('lists every problem of an invalid configuration by its path', () => {
    const candidate = mergeConfig(DEFAULT_CONFIG, {
      tasks: {
        image: { lambda: { http: { timeoutSeconds: 60 } } },
        text: { uploads: { consumers: ['gpu'] } },
        speech: { gpu: { instanceType: 'g5.xlarge', minTasks: 2, maxTasks: 1 } },
      },
      gpuNetwork: { certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc-123' },
      monitoring: { logRetentionDays: 31 },
    });
    const perTask = mergeConfig(DEFAULT_CONFIG, {
      tasks: { image: { gpu: { minTasks: 3, maxTasks: 2, instanceType: 'm5.large' } } },
      monitoring: { logRetentionDays: 31 },
    });
    const unsafe = mergeConfig(DEFAULT_CONFIG, {
      profile: 'prod',
      tasks: {
        image: { gpu: { minTasks: 0 }, uploads: { consumers: ['lambda', 'gpu'] } },
        text: { gpu: { serveHttp: false } },
      },
    });

    const attempt = () => parseConfig(candidate);

    expect(attempt).toThrow(InvalidConfigError);
    expect(attempt).toThrow(/tasks\.image\.lambda\.http\.timeoutSeconds: must be at most 30/);
    expect(attempt).toThrow(/tasks\.text\.uploads\.consumers: names gpu but the task has no gpu tier/);
    expect(attempt).toThrow(/tasks\.speech\.gpu\.minTasks: is 2, more than maxTasks \(1\)/);
    expect(attempt).toThrow(/gpuNetwork\.serverName: certificateArn and serverName go together/);
    expect(attempt).toThrow(/monitoring\.logRetentionDays: must be one of 1, 3, 5/);
    expect(() => parseConfig(perTask)).toThrow(/tasks\.image\.gpu\.minTasks: is 3, more than maxTasks \(2\)/);
    expect(() => parseConfig(perTask)).toThrow(
      /tasks\.image\.gpu\.instanceType: must be a GPU instance type/,
    );
    expect(() => parseConfig(unsafe)).toThrow(
      /tasks\.image\.uploads\.consumers: names both lambda and gpu: one queue takes one consumer/,
    );
    expect(() => parseConfig(unsafe)).toThrow(
      /tasks\.image\.gpu\.minTasks: is 0 while the GPU service serves HTTP/,
    );
    expect(() => parseConfig(unsafe)).toThrow(
      /tasks\.text\.gpu\.serveHttp: is false and the GPU service does not consume uploads either/,
    );
    expect(() => parseConfig(unsafe)).toThrow(/monitoring\.alarmEmails: is empty in the prod profile/);
  });

  it('accepts a prod profile with an alarm subscriber, and an upload-only GPU tier that scales from zero', () => {
    const config = parseConfig(
      mergeConfig(DEFAULT_CONFIG, {
        profile: 'prod',
        monitoring: { alarmEmails: ['oncall@example.com'] },
        tasks: { image: { gpu: { minTasks: 0, serveHttp: false }, uploads: { consumers: ['gpu'] } } },
      }),
    );

    expect(config.tasks.image?.gpu).toMatchObject({ minTasks: 0, serveHttp: false });
  });

  it('refuses a variant the manifest does not give the tier, since MODEL_TIER loads the manifest’s', () => {
    const config = parseConfig(
      mergeConfig(DEFAULT_CONFIG, { tasks: { text: { lambda: { model: { variant: 'fp32' } } } } }),
    );

    expect(() => resolveDeployment(config, MODEL_REPOSITORY_DIR)).toThrow(
      /tasks\.text\.lambda\.model: variant fp32 is not what spam-fasttext@2 serves on the lambda tier: its manifest maps lambda to int8/,
    );
    expect(() =>
      resolveDeployment(
        parseConfig(
          mergeConfig(DEFAULT_CONFIG, {
            tasks: { speech: { lambda: { model: { name: 'no-such-model' } } } },
          }),
        ),
        MODEL_REPOSITORY_DIR,
      ),
    ).toThrow(/tasks\.speech\.lambda\.model: model no-such-model is not in the local model repository/);
  });

  it('resolves each tier’s model version and variant from the local repository', () => {
    const config = parseConfig(mergeConfig(DEFAULT_CONFIG, { tasks: { image: { gpu: {} } } }));
    const { tasks } = resolveDeployment(config, MODEL_REPOSITORY_DIR);
    const byKey = Object.fromEntries(tasks.map((task) => [task.key, task]));

    expect(byKey.text?.lambda?.model).toMatchObject({ ref: 'spam-fasttext@2', variant: 'int8' });
    expect(byKey.speech?.lambda?.model).toMatchObject({ ref: 'silero-vad@1', variant: 'int8' });
    expect(byKey.image?.gpu?.model).toMatchObject({ ref: 'ppocr-v4@3', variant: 'fp32' });
    expect(byKey.image?.gpu).toMatchObject({
      instanceType: 'g4dn.xlarge',
      minTasks: 1,
      maxTasks: 2,
      memoryMiB: 12288,
      requestsPerTarget: 600,
      backlogPerTask: 20,
      serveHttp: true,
    });
    expect(byKey.image?.lambda?.model.served).toEqual([
      'ppocr-v4',
      'ppocr-v4-det',
      'ppocr-mobile-v2-cls',
      'ppocr-v4-rec',
    ]);
  });

  it('starts every task from its defaults, written once: the shipped tasks deploy, the others opt in', () => {
    for (const key of TASK_KEYS) {
      const defaults = taskOfKey(key).shipsModel ? DEFAULT_CONFIG.tasks[key] : OPT_IN_TASK_DEFAULTS[key];
      expect(defaults, key).toEqual(TASK_DEFAULTS[key]);
    }
    expect(parseConfig(DEFAULT_CONFIG)).toEqual(DEFAULT_CONFIG);
    expect(DEFAULT_CONFIG.tasks.image?.lambda?.upload).toEqual({
      memoryMb: 3008,
      timeoutSeconds: 120,
      batchSize: 1,
      maxConcurrency: 5,
    });
  });

  it('refuses a task key the registry does not have, and resolves each key to its task', () => {
    const attempt = () => parseConfig(mergeConfig(DEFAULT_CONFIG, { tasks: { 'text-embedding': {} } }));

    expect(attempt).toThrow(InvalidConfigError);
    expect(attempt).toThrow(/tasks: Unrecognized key: "text-embedding"/);
    expect(taskOfKey('text-embed')).toBe(TASK_DESCRIPTORS['text/embed']);
    expect(() => taskOfKey('video' as never)).toThrow(
      'unknown task key "video"; valid keys: image, text, speech, text-embed',
    );
  });

  it('resolves the task path of each deployed task’s uploads from its descriptor', () => {
    const config = parseConfig(
      mergeOverDefaults({ tasks: { 'text-embed': { lambda: { model: { name: 'x' } } } } }),
    );
    const withPublished = { ...config, storage: { ...config.storage, publishModels: false } };
    const named = mergeConfig(withPublished, {
      tasks: { 'text-embed': { lambda: { model: { name: 'x', version: '1', variant: 'fp32' } } } },
    });

    const { tasks } = resolveDeployment(parseConfig(named), MODEL_REPOSITORY_DIR);

    expect(tasks.map((task) => [task.key, task.task, task.uploadPath, task.route])).toEqual([
      ['image', 'image/ocr', 'image', '/v1/image/ocr'],
      ['text', 'text/classify', 'text', '/v1/text/classify'],
      ['speech', 'speech/vad', 'speech', '/v1/speech/vad'],
      ['text-embed', 'text/embed', 'text/embed', '/v1/text/embed'],
    ]);
    expect(tasks.map((task) => task.modelVariable)).toEqual([
      'MODEL_IMAGE_OCR',
      'MODEL_TEXT_CLASSIFY',
      'MODEL_SPEECH_VAD',
      'MODEL_TEXT_EMBED',
    ]);
  });
});
