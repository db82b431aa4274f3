/**
 * Every environment variable Inferlet reads, in one zod schema: its type, default and allowed values.
 *
 * Entry points (the server, the Lambda HTTP and upload handlers, the CLI scripts) call {@link loadSettings}
 * once at start, so a bad or contradictory value stops the process, or fails the Lambda init, with one
 * message that names each bad variable, instead of surfacing later as a wrong default or a silent no-op.
 * This module imports only zod and Node built-ins: every Lambda bundle carries it.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_METRICS_NAMESPACE } from '../metric-names.ts';
import { SEGMENT_PATTERN } from '../model-store/segment.ts';
import { DEFAULT_TASK_NAMES, TASK_DESCRIPTORS, TASK_NAMES, type TaskName } from '../tasks/descriptors.ts';

// The task list comes from the descriptors, which import nothing heavy: every Lambda bundle carries them.
export { DEFAULT_TASK_NAMES, TASK_NAMES, type TaskName };

/** The variable that picks a task's model, e.g. `MODEL_IMAGE_OCR` for `image/ocr`. */
export function modelVariableOf(task: string): string {
  return `MODEL_${task.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
}

/** A model a task serves: `name` or `name@version`. */
export interface ModelChoice {
  readonly name: string;
  readonly version?: string;
}

// An empty value means unset: deployment tools write `VAR=` for "not given", and the tests do too.
const unset = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const POSITIVE = 'a positive integer';
const PORT = 'an integer from 1 to 65535';

function integer(min: number, max: number) {
  return z.string().trim().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));
}

function positiveInteger(fallback: number) {
  return {
    schema: z.preprocess(unset, integer(1, Number.MAX_SAFE_INTEGER).default(fallback)),
    default: String(fallback),
    allowed: POSITIVE,
  };
}

function port(fallback: number) {
  return {
    schema: z.preprocess(unset, integer(1, 65535).default(fallback)),
    default: String(fallback),
    allowed: PORT,
  };
}

// Enumerations compare case-insensitively: the variables were read that way before the schema.
const lowerCase = (value: unknown) => {
  const given = unset(value);
  return typeof given === 'string' ? given.trim().toLowerCase() : given;
};
const listed = (values: readonly string[]) => `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;

/** One of `values`, else `fallback`. */
function oneOf<const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) {
  return {
    schema: z.preprocess(lowerCase, z.enum(values).default(fallback)),
    default: fallback,
    allowed: listed(values),
  };
}

/** One of `values`, or undefined. */
function optionalOneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return {
    schema: z.preprocess(lowerCase, z.enum(values).optional()),
    default: '–',
    allowed: listed(values),
  };
}

/** A string (trimmed) that passes `check`, else `fallback`. */
function text(fallback: string, allowed: string, check: z.ZodString = z.string()) {
  return {
    schema: z.preprocess(unset, z.string().trim().pipe(check).default(fallback)),
    default: fallback,
    allowed,
  };
}

/** A string (trimmed) that passes `check`, or undefined. */
function optionalText(allowed: string, check: z.ZodString = z.string()) {
  return { schema: z.preprocess(unset, z.string().trim().pipe(check).optional()), default: '–', allowed };
}

/** Where models come from unless `MODEL_REPOSITORY` says: `./models` (`npm start`: its embedded bucket). */
export const DEFAULT_MODEL_REPOSITORY = 'models';

/** Where downloaded model files are kept unless `MODEL_CACHE_DIR` says (`/tmp/inferlet-models` on Lambda). */
export function defaultModelCacheDir(): string {
  return join(tmpdir(), 'inferlet-models');
}

// A model name or version is one safe path segment, as the repository's `isSegment` requires.
const SEGMENT = SEGMENT_PATTERN;

function modelChoice(defaultModel: string) {
  return {
    schema: z.preprocess(
      unset,
      z
        .string()
        .trim()
        .regex(new RegExp(`^${SEGMENT}(@${SEGMENT})?$`))
        .transform((value): ModelChoice => {
          const [name = '', version] = value.split('@');
          return version ? { name, version } : { name };
        })
        .optional(),
    ),
    /** Undefined in the settings: the task definition holds it; a test keeps this text equal to it. */
    default: defaultModel,
    allowed: 'name or name@version (letters, digits, . _ -)',
  };
}

/** A comma-separated list, items trimmed, empty items dropped. */
const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);

const tasks = {
  schema: z.preprocess(unset, commaList.pipe(z.array(z.enum(TASK_NAMES)).min(1)).optional()),
  default: 'all but text/embed',
  allowed: `comma-separated, each one of ${TASK_NAMES.join(', ')}`,
};

const queueUrls = {
  schema: z.preprocess(unset, commaList.pipe(z.array(z.url({ protocol: /^https?$/ }))).default([])),
  default: '–',
  allowed: 'comma-separated http(s) URLs of SQS queues',
};

// Powertools accepts these (case-insensitively) and throws on anything else, at the first metric.
const METRICS_SWITCH = ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'] as const;

/**
 * Every variable, with its schema, the default the README shows and the allowed values that an error
 * message and the README state. The README's table is checked against this by a test.
 */
export const ENVIRONMENT = {
  MODEL_REPOSITORY: {
    // Undefined when unset, so that `npm start` can tell "not given" (its embedded bucket) from `models`.
    ...optionalText(
      'a folder, or s3://bucket/prefix',
      // A URL of another scheme would otherwise be taken for a relative folder named "https:".
      z.string().regex(/^(?![a-z][a-z0-9+.-]*:\/\/)|^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/),
    ),
    default: DEFAULT_MODEL_REPOSITORY,
  },
  // Undefined when unset, so that a script can pick a fresh folder of its own instead.
  MODEL_CACHE_DIR: { ...optionalText('a folder'), default: '<os temp>/inferlet-models' },
  MODEL_TIER: optionalOneOf(['lambda', 'gpu']),
  TASKS: tasks,
  MODEL_IMAGE_OCR: modelChoice(TASK_DESCRIPTORS['image/ocr'].defaultModel),
  MODEL_TEXT_CLASSIFY: modelChoice(TASK_DESCRIPTORS['text/classify'].defaultModel),
  MODEL_TEXT_EMBED: modelChoice(TASK_DESCRIPTORS['text/embed'].defaultModel),
  MODEL_SPEECH_VAD: modelChoice(TASK_DESCRIPTORS['speech/vad'].defaultModel),
  TEXT_MAX_TEXTS: positiveInteger(64),
  TEXT_MAX_CHARS: positiveInteger(100_000),
  TEXT_MAX_FILE_TEXTS: positiveInteger(10_000),
  MAX_UPLOAD_BYTES: positiveInteger(50 * 1024 * 1024),
  UPLOAD_CONCURRENCY: positiveInteger(1),
  UPLOAD_QUEUE_URLS: queueUrls,
  EMBEDDED_S3: oneOf(['on', 'off'], 'on'),
  S3_PORT: port(4568),
  S3_DATA_DIR: text('.data/s3', 'a folder'),
  PORT: port(8080),
  HOST: text('127.0.0.1', 'a host name or IP address', z.string().regex(/^[A-Za-z0-9.:[\]-]+$/)),
  // Lambda's synchronous payload limit.
  MAX_BODY_BYTES: positiveInteger(6 * 1024 * 1024),
  // A cheap request ("0,0,0,...") can ask for an expensive run, and a small one for a huge answer: OIP
  // tensors are bounded by elements (inputs together, outputs together) and the answer by its JSON bytes.
  OIP_MAX_ELEMENTS: positiveInteger(1024 * 1024),
  // Lambda's synchronous response limit, as MAX_BODY_BYTES is its request limit.
  OIP_MAX_RESPONSE_BYTES: positiveInteger(6 * 1024 * 1024),
  // Admission control of the long-running server (npm start, GPU container): runs per task at once, and
  // the longest wait in a task's queue a request is accepted for, estimated from recent service times.
  ADMISSION_CONCURRENCY: positiveInteger(4),
  ADMISSION_MAX_WAIT_MS: positiveInteger(10_000),
  // On SIGTERM or SIGINT, how long the server finishes what it has accepted: under ECS's 30 s stopTimeout.
  STOP_TIMEOUT_MS: positiveInteger(25_000),
  // The nice value of every thread of the server but its event loop's (Linux), so that accepting, refusing
  // and health probes run before inference under a burst; 0 leaves the threads as they are.
  INFERENCE_NICE: {
    schema: z.preprocess(unset, integer(0, 19).default(10)),
    default: '10',
    allowed: 'an integer from 0 to 19',
  },
  // Dynamic batching of the models that support it (the text classifier): merge concurrent requests'
  // session runs where measured to pay (auto), always (on) or never (off).
  BATCHING: oneOf(['auto', 'on', 'off'], 'auto'),
  OCR_MAX_PIXELS: positiveInteger(40_000_000),
  INFERENCE_THREADS: {
    schema: z.preprocess(unset, integer(1, 1024).optional()),
    default: 'CPUs available',
    allowed: 'an integer from 1 to 1024',
  },
  EXECUTION_PROVIDER: oneOf(['cpu', 'webgpu', 'cuda', 'auto'], 'cpu'),
  // Per model, over EXECUTION_PROVIDER: an ensemble's detector on the GPU while its recogniser is not.
  EXECUTION_PROVIDERS_BY_MODEL: {
    schema: z.preprocess(
      unset,
      commaList
        .pipe(z.array(z.string().regex(new RegExp(`^${SEGMENT}=(cpu|webgpu|cuda|auto)$`, 'i'))))
        .transform((pairs) =>
          Object.fromEntries(
            pairs.map((pair) => pair.split('=') as [string, string]).map(([m, p]) => [m, p.toLowerCase()]),
          ),
        )
        .optional(),
    ),
    default: '–',
    allowed: 'comma-separated model=provider pairs, provider cpu, webgpu, cuda or auto',
  },
  LOG_LEVEL: oneOf(['debug', 'info', 'warn', 'error', 'silent'], 'info'),
  POWERTOOLS_METRICS_DISABLED: {
    // Not `unset` first: Powertools itself throws on an empty value.
    schema: z
      .string()
      .transform((value) => value.trim().toLowerCase())
      .pipe(z.enum(METRICS_SWITCH))
      .optional(),
    default: '–',
    allowed: 'true, false, 1, 0, yes, no, on or off',
  },
  POWERTOOLS_METRICS_NAMESPACE: text(
    DEFAULT_METRICS_NAMESPACE,
    'a CloudWatch namespace (letters, digits, spaces and . - _ / # :, not AWS/...)',
    z.string().regex(/^(?!AWS\/)[A-Za-z0-9 ._/#:-]{1,255}$/),
  ),
  POWERTOOLS_SERVICE_NAME: text('inferlet', 'a name of up to 255 characters', z.string().max(255)),
} as const;

/** A variable of {@link ENVIRONMENT}. */
export type VariableName = keyof typeof ENVIRONMENT;

const shape = Object.fromEntries(
  Object.entries(ENVIRONMENT).map(([name, variable]) => [name, variable.schema]),
) as { [K in VariableName]: (typeof ENVIRONMENT)[K]['schema'] };

/** The schema of the whole environment, cross-field checks included. */
export const environmentSchema = z.object(shape).superRefine((settings, ctx) => {
  if (settings.EMBEDDED_S3 === 'on' && settings.S3_PORT === settings.PORT) {
    ctx.addIssue({
      code: 'custom',
      path: ['S3_PORT'],
      message: `S3_PORT must differ from PORT while EMBEDDED_S3 is on (both are ${settings.PORT})`,
    });
  }
  if (settings.EXECUTION_PROVIDER !== 'cpu' && settings.MODEL_TIER === 'lambda') {
    ctx.addIssue({
      code: 'custom',
      path: ['EXECUTION_PROVIDER'],
      message: `EXECUTION_PROVIDER must be cpu where MODEL_TIER is lambda (Lambda has no GPU; got "${settings.EXECUTION_PROVIDER}")`,
    });
  }
  const seen = new Set<string>();
  for (const task of settings.TASKS ?? []) {
    if (seen.has(task)) {
      ctx.addIssue({
        code: 'custom',
        path: ['TASKS'],
        message: `TASKS must name each task once (got "${task}" twice)`,
      });
    }
    seen.add(task);
  }
});

/** The parsed environment: typed, with defaults filled in, frozen. */
export type Settings = Readonly<z.output<typeof environmentSchema>>;

/** One bad variable. */
export interface SettingsProblem {
  readonly variable: string;
  readonly message: string;
}

/** The environment holds bad or contradictory values; the message names each one. */
export class SettingsError extends Error {
  constructor(readonly problems: readonly SettingsProblem[]) {
    super(`invalid settings:\n${problems.map((p) => `  ${p.message}`).join('\n')}`);
    this.name = 'SettingsError';
  }
}

type Environment = Readonly<Record<string, string | undefined>>;

function quoted(value: string | undefined): string {
  if (value === undefined) return 'unset';
  // Settings are not payloads, but a value can be long; the start says enough.
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}...` : value);
}

function problemsOf(error: z.ZodError, env: Environment): SettingsProblem[] {
  const problems = new Map<string, SettingsProblem>();
  for (const issue of error.issues) {
    const variable = String(issue.path[0] ?? '');
    const known = ENVIRONMENT[variable as VariableName];
    const message =
      issue.code === 'custom' || !known
        ? issue.message
        : `${variable} must be ${known.allowed} (got ${quoted(env[variable])})`;
    // zod may report several issues for one value (e.g. two bad task names): one line a message.
    problems.set(`${variable}\n${message}`, { variable, message });
  }
  return [...problems.values()];
}

function parse(env: Environment): Settings {
  const raw = Object.fromEntries(Object.keys(ENVIRONMENT).map((name) => [name, env[name]]));
  const result = environmentSchema.safeParse(raw);
  if (!result.success) throw new SettingsError(problemsOf(result.error, env));
  return Object.freeze(result.data);
}

let cached: { readonly env: Environment; readonly key: string; readonly settings: Settings } | undefined;

/**
 * Parses and checks the whole environment, once: the result is cached and reused while the variables keep
 * their values (tests change `process.env` between cases; a real process never does).
 *
 * @throws {SettingsError} naming each bad variable, its value and what is allowed, e.g.
 *   `PORT must be an integer from 1 to 65535 (got "abc")`.
 * @example
 * ```ts
 * const settings = loadSettings(); // at the top of an entry point
 * serve({ fetch: app.fetch, port: settings.PORT, hostname: settings.HOST });
 * ```
 */
export function loadSettings(env: Environment = process.env): Settings {
  const key = Object.keys(ENVIRONMENT)
    .map((name) => env[name] ?? '\u0000')
    .join('\u0001');
  if (cached?.env === env && cached.key === key) return cached.settings;
  const settings = parse(env);
  cached = { env, key, settings };
  return settings;
}

/**
 * Parses one variable alone, for readers that must not fail on another variable's mistake (the logger);
 * entry points have checked the whole environment already.
 *
 * @throws {SettingsError} when this variable's value is not allowed.
 */
export function readSetting<K extends VariableName>(name: K, env: Environment = process.env): Settings[K] {
  const result = ENVIRONMENT[name].schema.safeParse(env[name]);
  if (!result.success) {
    throw new SettingsError([
      { variable: name, message: `${name} must be ${ENVIRONMENT[name].allowed} (got ${quoted(env[name])})` },
    ]);
  }
  return result.data as Settings[K];
}

/**
 * {@link loadSettings} for a command-line entry point: a bad setting prints its message on stderr, after
 * the program's name, and exits with status 1 before anything starts.
 */
export function loadSettingsOrExit(program: string, env: Environment = process.env): Settings {
  try {
    return loadSettings(env);
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    process.stderr.write(`${program}: ${error.message}\n`);
    process.exit(1);
  }
}

/** The tasks a process serves: `TASKS`, or {@link DEFAULT_TASK_NAMES}. */
export function servedTaskNames(settings: Settings): readonly TaskName[] {
  return settings.TASKS ?? DEFAULT_TASK_NAMES;
}

/** The model `MODEL_<TASK>` picks for a task, or undefined for the task's default. */
export function modelChoiceOf(settings: Settings, task: string): ModelChoice | undefined {
  const variable = modelVariableOf(task);
  return variable in settings ? (settings[variable as VariableName] as ModelChoice | undefined) : undefined;
}
