/**
 * Uploads a local model repository to S3 (see `functions/core/model-store/publish.ts`).
 *
 *   tsx scripts/publish-models.ts [localRepository] s3://bucket/prefix
 */
import { pathToFileURL } from 'node:url';
import { publishRepository } from '../functions/core/model-store/publish.ts';

export { publishRepository };

async function main(args: string[]): Promise<void> {
  const [from, to] = args.length === 1 ? ['models', args[0]] : args;
  if (args.length < 1 || args.length > 2 || !to?.startsWith('s3://') || from === undefined) {
    console.error('usage: tsx scripts/publish-models.ts [localRepository] s3://bucket/prefix');
    process.exitCode = 2;
    return;
  }
  await publishRepository({ from, to, log: (line) => console.log(line) });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
