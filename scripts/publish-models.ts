/**
 * Uploads a local model repository to S3 (see `functions/core/model-store/publish.ts`). Exits 1, having
 * uploaded nothing, when the bucket holds a published version with other bytes: bump that model's version.
 *
 *   tsx scripts/publish-models.ts [localRepository] s3://bucket/prefix
 */
import { pathToFileURL } from 'node:url';
import { ModelVersionConflictError, publishRepository } from '../functions/core/model-store/publish.ts';

async function main(args: string[]): Promise<void> {
  const [from, to] = args.length === 1 ? ['models', args[0]] : args;
  if (args.length < 1 || args.length > 2 || !to?.startsWith('s3://') || from === undefined) {
    console.error('usage: tsx scripts/publish-models.ts [localRepository] s3://bucket/prefix');
    process.exitCode = 2;
    return;
  }
  try {
    await publishRepository({ from, to, log: (line) => console.log(line) });
  } catch (error) {
    if (!(error instanceof ModelVersionConflictError)) throw error;
    console.error(error.message);
    process.exitCode = 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
