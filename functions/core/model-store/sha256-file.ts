import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * The sha256 of a file as lowercase hex, streamed (model files run to hundreds of megabytes): what a
 * manifest records for each file and what the store and the disk cache check a download against.
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
