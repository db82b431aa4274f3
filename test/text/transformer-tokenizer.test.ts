import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { TextTokenizer } from '../../functions/text/tokenizer.ts';
import { bpeTokenizerJson, unigramTokenizerJson, wordPieceTokenizerJson } from '../support/bert-model.ts';

const TEXTS = [
  'Unaffable hello, WORLD!',
  'win a free cruise, click now',
  'please send the report at noon.',
  'ünknown wörds: 42 ÷ 7',
  '',
];

describe('the tokenizer of an imported model', () => {
  it('splits words into WordPiece tokens, lower-cased, between [CLS] and [SEP]', () => {
    const tokenizer = TextTokenizer.create(wordPieceTokenizerJson(), { maxLength: 32 });

    const encoded = tokenizer.encode('Unaffable hello, WORLD!');

    expect(encoded.tokens).toEqual(['[CLS]', 'un', '##aff', '##able', 'hello', ',', 'world', '!', '[SEP]']);
    expect(encoded.typeIds).toEqual(new Array(9).fill(0));
    expect(encoded.truncated).toBe(false);
  });

  it('merges BPE pairs and wraps the text in <s> and </s>', () => {
    const tokenizer = TextTokenizer.create(bpeTokenizerJson(), { maxLength: 32 });

    expect(tokenizer.encode('Lower newest low').tokens).toEqual([
      '<s>',
      'lower',
      'new',
      'est',
      'low',
      '</s>',
    ]);
  });

  it('picks the most probable Unigram pieces, with the metaspace before each word', () => {
    const tokenizer = TextTokenizer.create(unigramTokenizerJson(), { maxLength: 32 });

    expect(tokenizer.encode('hello world helxo').tokens).toEqual([
      '▁hello',
      '▁world',
      '▁he',
      'l',
      'x',
      'o',
      '</s>',
    ]);
  });

  it.each([
    ['WordPiece', wordPieceTokenizerJson()],
    ['BPE', bpeTokenizerJson()],
    ['Unigram', unigramTokenizerJson()],
  ])('gives the ids @huggingface/tokenizers gives for %s texts that fit', (_, json) => {
    const library = new Tokenizer(json, {});
    const tokenizer = TextTokenizer.create(json, { maxLength: 64 });

    for (const text of TEXTS) expect(tokenizer.encode(text).ids, text).toEqual(library.encode(text).ids);
  });

  it('cuts a long text to the maximum length and keeps its closing special token', () => {
    const wordPiece = TextTokenizer.create(wordPieceTokenizerJson(), { maxLength: 6 });
    const unigram = TextTokenizer.create(unigramTokenizerJson(), { maxLength: 3 });

    const cut = wordPiece.encode('Unaffable hello, WORLD!');

    expect(cut.tokens).toEqual(['[CLS]', 'un', '##aff', '##able', 'hello', '[SEP]']);
    expect(cut.ids).toEqual(
      cut.tokens.map((t) => new Tokenizer(wordPieceTokenizerJson(), {}).token_to_id(t)),
    );
    expect(cut.truncated).toBe(true);
    expect(unigram.encode('hello world hello').tokens).toEqual(['▁hello', '▁world', '</s>']);
  });

  it('pads a batch to its longest text, with zeros in the attention mask', () => {
    const tokenizer = TextTokenizer.create(wordPieceTokenizerJson(), { maxLength: 32 });

    const batch = tokenizer.encodeBatch(['hello', 'win a free cruise']);

    expect(batch).toMatchObject({ batch: 2, length: 6, lengths: [3, 6], truncated: [false, false] });
    expect(Array.from(batch.attentionMask, Number)).toEqual([1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(batch.inputIds.subarray(3, 6), Number)).toEqual([
      tokenizer.padId,
      tokenizer.padId,
      tokenizer.padId,
    ]);
    expect(Array.from(batch.inputIds.subarray(0, 3), Number)).toEqual(tokenizer.encode('hello').ids);
  });

  it('refuses a maximum length that leaves no room for the text', () => {
    expect(() => TextTokenizer.create(wordPieceTokenizerJson(), { maxLength: 2 })).toThrow(
      'a maximum length of 2 leaves no room beside 2 special tokens',
    );
  });
});
