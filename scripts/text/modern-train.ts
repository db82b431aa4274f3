/**
 * The modern training corpus of the spam classifier (`scripts/text/data/modern-train.jsonl`, see the README
 * beside it): hand-written present-day mail, written apart from the evaluation set of `test/data/` and
 * checked against it for near-duplicates. It supplies what SpamAssassin's 2002 corpus lacks: today's
 * personal, work and transactional ham and today's phishing.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { LabelledText } from './dataset.ts';

/** Where the corpus lives. */
export const MODERN_TRAIN_FILE = fileURLToPath(new URL('./data/modern-train.jsonl', import.meta.url));

/** One message of the corpus. */
export interface ModernTrainMessage extends LabelledText {
  /**
   * personal, work, transactional, newsletter, notification, list (ham); phishing, scam, marketing,
   * imitation (spam).
   */
  readonly kind: string;
}

/** Reads the whole corpus, in file order. */
export async function readModernTrain(): Promise<ModernTrainMessage[]> {
  const lines = (await readFile(MODERN_TRAIN_FILE, 'utf8')).split('\n').filter((l) => l.trim());
  return lines.map((l) => JSON.parse(l) as ModernTrainMessage);
}
