import { describe, expect, it } from 'vitest';
import { isSegment } from '../../../functions/core/model-store/segment.ts';
import {
  compareVersionRefs,
  compareVersions,
  defaultVersion,
  sortVersions,
} from '../../../functions/core/model-store/versions.ts';

describe('model versions', () => {
  it('order numerically, as integers of any length, before named versions in text order', () => {
    const versions = ['beta', '10', '2', '1', '99999999999999999999', 'alpha', '100000000000000000000'];

    const sorted = sortVersions(versions);

    expect(sorted).toEqual([
      '1',
      '2',
      '10',
      '99999999999999999999',
      '100000000000000000000',
      'alpha',
      'beta',
    ]);
    expect(versions[0]).toBe('beta'); // the input is left as it was
    expect(compareVersions('7', '7')).toBe(0);
  });

  it('order model versions by name, then by version', () => {
    const refs = [
      { name: 'b', version: '1' },
      { name: 'a', version: '10' },
      { name: 'a', version: '9' },
    ];

    const sorted = [...refs].sort(compareVersionRefs);

    expect(sorted.map((r) => `${r.name}@${r.version}`)).toEqual(['a@9', 'a@10', 'b@1']);
  });

  it('default to the highest numeric version, and to none when every version is named', () => {
    expect(defaultVersion(['1', '10', '2', 'beta'])).toBe('10');
    expect(defaultVersion(['9', '10'])).toBe('10'); // not the text order, where '9' is last
    expect(defaultVersion(['beta', 'rc1'])).toBeUndefined();
    expect(defaultVersion([])).toBeUndefined();
  });
});

describe('model name and version segments', () => {
  it('accept letters, digits, dots, underscores and dashes after a letter or digit', () => {
    for (const value of ['ppocr-v4', 'spam_fasttext', '1', 'v1.2.3', 'A9'])
      expect(isSegment(value), value).toBe(true);
  });

  it('refuse anything that could leave the repository or is not one segment', () => {
    for (const value of ['', '.', '..', '../x', 'a/b', 'a\\b', '-x', '.hidden', 'a b', 'é', 'a@1', 'x\n'])
      expect(isSegment(value), JSON.stringify(value)).toBe(false);
  });
});
