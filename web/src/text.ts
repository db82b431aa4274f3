/** The text task: a message classified, each token coloured by its share in the decision. */
import { showAnswer } from './answer.ts';
import { callApi, type StageTimings } from './api.ts';
import { byId, el, showError } from './dom.ts';

interface Classification {
  readonly label: string;
  readonly score: number;
  readonly scores: Readonly<Record<string, number>>;
  readonly explanation?: {
    readonly against: string;
    readonly tokens: readonly { readonly token: string; readonly contribution: number }[];
  };
}

interface ClassifyResult {
  readonly results: readonly Classification[];
  readonly timings: StageTimings;
}

const ROUTE = '/v1/text/classify';
/** As many tokens as the API explains for one text: every token of a typical message. */
const EXPLAIN_TOKENS = 1000;
// The model's tokens (functions/text/featurizer.ts): runs of letters, marks and digits, or one other visible
// character. Matched on the text as typed, so the colours land on what the person wrote.
const TOKEN = /[\p{L}\p{M}\p{N}]+|[^\s\p{L}\p{M}\p{N}\p{C}]/gu;

/**
 * Each token's contribution: its own (a word with its character n-grams), plus half of each word pair it
 * is part of, so that a pair's weight shows on both of its words.
 */
function contributions(explanation: NonNullable<Classification['explanation']>): Map<string, number> {
  const byToken = new Map<string, number>();
  const add = (token: string, value: number) => byToken.set(token, (byToken.get(token) ?? 0) + value);
  for (const { token, contribution } of explanation.tokens) {
    const words = token.split(' ');
    if (words.length === 1) add(token, contribution);
    else for (const word of words) add(word, contribution / words.length);
  }
  return byToken;
}

/** The text as spans, each token coloured by sign and strength of its contribution. */
function colouredTokens(text: string, shares: Map<string, number>): (Node | string)[] {
  const largest = Math.max(1e-9, ...[...shares.values()].map(Math.abs));
  const out: (Node | string)[] = [];
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    const at = match.index ?? 0;
    if (at > last) out.push(text.slice(last, at));
    const share = shares.get(match[0].normalize('NFKC').toLowerCase()) ?? 0;
    if (share === 0) out.push(match[0]);
    else {
      const strength = Math.min(1, Math.abs(share) / largest);
      out.push(
        el(
          'mark',
          {
            class: `token ${share > 0 ? 'toward' : 'against'}`,
            style: `--strength:${(0.15 + 0.85 * strength).toFixed(3)}`,
            title: `${share > 0 ? '+' : ''}${share.toFixed(3)}`,
            'data-contribution': share.toFixed(4),
          },
          match[0],
        ),
      );
    }
    last = at + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Wires the text section; `onAnswer` is told after each answer. */
export function setUpText(onAnswer: () => void): void {
  const form = byId<HTMLFormElement>('text-form');
  const input = byId<HTMLTextAreaElement>('text-input');
  const error = byId('text-error');
  const result = byId('text-result');
  const answer = byId('text-answer');

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showError(error, undefined);
    const text = input.value;
    const reply = await callApi<ClassifyResult>(ROUTE, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text, explain: EXPLAIN_TOKENS }),
    });
    onAnswer();
    if (!reply.ok) {
      result.hidden = true;
      answer.replaceChildren();
      showError(error, reply.error);
      return;
    }
    const [first] = reply.body.results;
    if (!first) return;
    byId('text-label').replaceChildren(
      'Label: ',
      el('strong', { class: `label-${first.label}` }, first.label),
      ` (${(first.score * 100).toFixed(1)}%)`,
    );
    const scores = Object.entries(first.scores).sort(([, a], [, b]) => b - a);
    byId('text-scores').replaceChildren(
      ...scores.map(([label, score]) =>
        el(
          'div',
          { class: 'score' },
          el('span', {}, label),
          el('meter', { min: '0', max: '1', value: String(score), 'aria-label': `score of ${label}` }),
          el('span', {}, score.toFixed(3)),
        ),
      ),
    );
    const tokens = byId('text-tokens');
    tokens.replaceChildren(
      ...(first.explanation ? colouredTokens(text, contributions(first.explanation)) : [text]),
    );
    tokens.setAttribute(
      'aria-label',
      `Tokens coloured by contribution toward ${first.label} or toward ${first.explanation?.against ?? 'the other label'}`,
    );
    result.hidden = false;
    showAnswer(answer, reply.body);
  });
}
