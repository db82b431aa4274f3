import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHttpError } from '../../functions/core/errors.ts';
import { TextClassifyJsonRequest } from '../../functions/core/http/api-schemas.ts';
import type { TaskInput } from '../../functions/core/tasks/types.ts';
import { readTextRequest, type TextLimits } from '../../functions/text/text-request.ts';
import { elapsedMs, expectClientError, FUZZ_SEED, fuzzRuns, resultOrRefusal } from './fuzz-support.ts';

/** Small limits, so that the fuzzer reaches them often. */
const LIMITS: TextLimits = { maxTexts: 4, maxChars: 40, maxFileTexts: 5 };

const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));

const mediaType = fc.oneof(
  fc.constantFrom('application/json', 'text/plain', 'application/x-ndjson', '', 'application/octet-stream'),
  fc.string({ maxLength: 20 }),
);

const filename = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  fc.constantFrom('a.txt', 'A.TXT', 'b.jsonl', 'c.JSONL', 'd.json', '.txt', ''),
  fc.string({ maxLength: 12 }),
);

const text = fc.oneof(fc.string({ maxLength: 50 }), fc.string({ unit: 'grapheme', maxLength: 20 }));

/** A JSON request body: mostly the fields the parser looks for, with values of any type. */
const jsonBody = fc.oneof(
  fc.jsonValue(),
  fc.record(
    {
      text: fc.oneof(text, fc.jsonValue()),
      texts: fc.oneof(
        fc.array(text, { maxLength: 6 }),
        fc.array(fc.jsonValue(), { maxLength: 6 }),
        fc.jsonValue(),
      ),
      explain: fc.oneof(fc.boolean(), fc.integer({ min: -5, max: 1500 }), fc.double(), fc.jsonValue()),
    },
    { requiredKeys: [] },
  ),
);

/** An NDJSON body: lines of JSON strings, `{ text, id }` objects, anything else, and blank lines. */
const ndjsonBody = fc
  .array(
    fc.oneof(
      text.map((t) => JSON.stringify(t)),
      fc
        .record({ text: fc.oneof(text, fc.jsonValue()), id: fc.jsonValue() }, { requiredKeys: [] })
        .map((r) => JSON.stringify(r)),
      fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
      fc.constantFrom('', '   ', '{', 'null', '\r'),
    ),
    { maxLength: 8 },
  )
  .map((lines) => lines.join('\n'));

const body = fc.oneof(
  jsonBody.map((v) => utf8(JSON.stringify(v) ?? '')),
  ndjsonBody.map(utf8),
  text.map(utf8),
  fc.uint8Array({ maxLength: 80 }),
);

const input = fc.record(
  { mediaType, bytes: body, filename },
  { requiredKeys: ['mediaType', 'bytes'] },
) as fc.Arbitrary<TaskInput>;

describe('text request parser under fuzzing', () => {
  it('reads any request within the limits or refuses it with a client error', () => {
    fc.assert(
      fc.property(input, (request) => {
        let parsed: ReturnType<typeof readTextRequest> | undefined;
        const ms = elapsedMs(() => {
          parsed = resultOrRefusal(() => readTextRequest(request, LIMITS));
        });

        expect(ms).toBeLessThan(200);
        if (!parsed) return;
        expect(parsed.texts.length).toBeLessThanOrEqual(Math.max(LIMITS.maxTexts, LIMITS.maxFileTexts));
        for (const t of parsed.texts) {
          expect(typeof t).toBe('string');
          expect(t.length).toBeLessThanOrEqual(LIMITS.maxChars);
        }
        expect(parsed.texts.length).toBeGreaterThan(0);
        expect(Number.isInteger(parsed.explainTokens) && parsed.explainTokens >= 0).toBe(true);
        if (parsed.lines) expect(parsed.lines).toHaveLength(parsed.texts.length);
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(3000) },
    );
  });

  it('accepts a JSON body exactly when the schema /openapi.json publishes does, limits aside', () => {
    fc.assert(
      fc.property(jsonBody, (value) => {
        const bytes = utf8(JSON.stringify(value));
        let status = 200;
        try {
          readTextRequest({ mediaType: 'application/json', bytes }, LIMITS);
        } catch (error) {
          expectClientError(error);
          status = toHttpError(error).status;
        }

        if (status === 413) return;
        expect(status === 200).toBe(TextClassifyJsonRequest.safeParse(value).success);
      }),
      { seed: FUZZ_SEED, numRuns: fuzzRuns(3000) },
    );
  });

  it('refuses a body of deeply nested JSON without exhausting the stack', () => {
    const deep = utf8(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);

    const outcome = resultOrRefusal(() =>
      readTextRequest({ mediaType: 'application/json', bytes: deep }, LIMITS),
    );

    expect(outcome).toBeUndefined();
  });

  // Seen among the fuzzer's outcomes: blank NDJSON or .jsonl gave a result with no texts (now a property).
  it.each([
    ['an NDJSON body', { mediaType: 'application/x-ndjson', bytes: utf8('\n  \n') }],
    ['an empty NDJSON body', { mediaType: 'application/x-ndjson', bytes: new Uint8Array(0) }],
    ['an uploaded .jsonl file', { mediaType: '', bytes: utf8('\n'), filename: 'incoming/text/empty.jsonl' }],
  ])('refuses %s with no text in it with 400', (_label, request) => {
    expect(() => readTextRequest(request, LIMITS)).toThrow(expect.objectContaining({ status: 400 }));
  });
});
