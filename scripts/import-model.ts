/**
 * Imports a Hugging Face ONNX export as a model of the repository, served by `text/classify` or
 * `text/embed` (see `functions/text/transformer-import.ts` for what is checked):
 *
 *   npm run models:import -- --from <dir> --name <name> [--version N] [--task text/classify|text/embed]
 *     [--repository models|s3://bucket/prefix] [--max-length N] [--pooling mean|cls|pooler|none]
 *     [--threshold P]
 *
 * The version defaults to one above the repository's highest version of that name (1 for a new name). An
 * S3 repository gets the version through the publisher, which refuses to change a published version.
 * Exits 1 naming each problem when the export does not fit the task, 2 on a usage error.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Pooling } from '../functions/core/model-store/manifest.ts';
import { ModelVersionConflictError, publishRepository } from '../functions/core/model-store/publish.ts';
import { openRepository } from '../functions/core/model-store/repository.ts';
import { isSegment, SEGMENT_RULE } from '../functions/core/model-store/segment.ts';
import { defaultVersion } from '../functions/core/model-store/versions.ts';
import { writeModelVersion } from '../functions/core/model-store/write-model.ts';
import {
  IMPORTABLE_TASKS,
  type ImportableTask,
  ImportRefusedError,
  planImport,
} from '../functions/text/transformer-import.ts';

const USAGE =
  'usage: npm run models:import -- --from <dir> --name <name> [--version N] [--task text/classify|text/embed] ' +
  '[--repository models|s3://bucket/prefix] [--max-length N] [--pooling mean|cls|pooler|none] [--threshold P]';

/** What was imported, where. */
export interface ImportReport {
  readonly name: string;
  readonly version: string;
  readonly task: string;
  readonly repository: string;
  readonly files: number;
}

class UsageError extends Error {}

function positive(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 2)
    throw new UsageError(`${what} must be an integer of 2 or more (got "${value}")`);
  return n;
}

/** The next version of `name` in a repository: one above the store's default (highest numeric) version, else 1. */
async function nextVersion(repository: string, name: string): Promise<string> {
  const versions = await openRepository(repository).listVersions(name);
  const latest = defaultVersion(versions.map((v) => v.version));
  return latest === undefined ? '1' : String(BigInt(latest) + 1n);
}

/**
 * Runs the import with command-line arguments.
 *
 * @throws {ImportRefusedError} when the export does not fit the task.
 */
export async function importModel(
  args: readonly string[],
  log: (line: string) => void = () => {},
): Promise<ImportReport> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      from: { type: 'string' },
      name: { type: 'string' },
      version: { type: 'string' },
      task: { type: 'string' },
      repository: { type: 'string', default: 'models' },
      'max-length': { type: 'string' },
      pooling: { type: 'string' },
      threshold: { type: 'string' },
    },
    strict: true,
  });
  const { from, name, repository = 'models' } = values;
  if (!from || !name) throw new UsageError('--from and --name are required');
  if (!isSegment(name)) throw new UsageError(`--name: ${SEGMENT_RULE} (got "${name}")`);
  if (values.version !== undefined && !isSegment(values.version)) {
    throw new UsageError(`--version: ${SEGMENT_RULE} (got "${values.version}")`);
  }
  if (values.task !== undefined && !(IMPORTABLE_TASKS as readonly string[]).includes(values.task)) {
    throw new UsageError(`--task must be one of ${IMPORTABLE_TASKS.join(', ')} (got "${values.task}")`);
  }
  const pooling = values.pooling === undefined ? undefined : Pooling.safeParse(values.pooling);
  if (pooling && !pooling.success)
    throw new UsageError(`--pooling must be one of ${Pooling.options.join(', ')}`);
  const threshold = values.threshold === undefined ? undefined : Number(values.threshold);
  if (threshold !== undefined && !(threshold > 0 && threshold < 1)) {
    throw new UsageError(`--threshold must be a probability between 0 and 1 (got "${values.threshold}")`);
  }
  const maxLength = positive(values['max-length'], '--max-length');
  const version = values.version ?? (await nextVersion(repository, name));
  const plan = await planImport({
    from,
    name,
    version,
    ...(values.task ? { task: values.task as ImportableTask } : {}),
    ...(maxLength ? { maxLength } : {}),
    ...(pooling?.success ? { pooling: pooling.data } : {}),
    ...(threshold !== undefined ? { threshold } : {}),
  });
  if (repository.startsWith('s3://')) {
    // The publisher uploads a whole local repository: this one holds only the new version.
    const staging = await mkdtemp(join(tmpdir(), 'inferlet-import-'));
    try {
      await writeModelVersion(staging, plan.manifest, plan.files);
      await publishRepository({ from: staging, to: repository, log });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  } else {
    const existing = await openRepository(repository).listVersions(name);
    if (existing.some((v) => v.version === version)) {
      throw new UsageError(
        `${repository}/${name}/${version} exists; versions are immutable: give another --version`,
      );
    }
    await writeModelVersion(repository, plan.manifest, plan.files);
  }
  const { transformer } = plan.manifest;
  log(
    `imported ${name}@${version} for ${plan.manifest.task} into ${repository}: ` +
      `${transformer?.labels ? `labels ${transformer.labels.join(', ')}` : `pooling ${transformer?.pooling}`}, ` +
      `up to ${transformer?.maxLength} tokens`,
  );
  return { name, version, task: plan.manifest.task, repository, files: plan.files.length };
}

async function main(args: string[]): Promise<void> {
  try {
    await importModel(args, (line) => console.log(line));
  } catch (error) {
    if (error instanceof ImportRefusedError || error instanceof ModelVersionConflictError) {
      console.error(error.message);
      process.exitCode = 1;
    } else if (
      error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      console.error(`${(error as Error).message}\n${USAGE}`);
      process.exitCode = 2;
    } else throw error;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
