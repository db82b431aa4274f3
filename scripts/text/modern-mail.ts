/**
 * The out-of-domain evaluation set of the spam classifier (`test/data/modern-mail.jsonl`, see its README):
 * hand-written present-day mail, never trained on. Its validation half takes part in model selection and
 * the decision threshold; its test half is only reported.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { LabelledText } from './dataset.ts';

/** Where the set lives. */
export const MODERN_MAIL_FILE = fileURLToPath(new URL('../../test/data/modern-mail.jsonl', import.meta.url));

/** One message of the set. */
export interface ModernMailMessage extends LabelledText {
  /** personal, work, transactional, newsletter (ham); phishing, scam, marketing, imitation (spam). */
  readonly kind: string;
  readonly split: 'validation' | 'test';
}

/** Reads the set, or one half of it. */
export async function readModernMail(split?: 'validation' | 'test'): Promise<ModernMailMessage[]> {
  const lines = (await readFile(MODERN_MAIL_FILE, 'utf8')).split('\n').filter((l) => l.trim());
  const messages = lines.map((l) => JSON.parse(l) as ModernMailMessage);
  return split ? messages.filter((m) => m.split === split) : messages;
}
