import { stringify } from 'csv-stringify/sync';
import { csvField } from '../../../../src/application/report/generate-report-files.js';

/**
 * The file stage quotes CSV fields by hand (4× faster than csv-stringify, bench/RESULTS.md). csv-stringify
 * stays the reference: on awkward text both must produce the same bytes.
 */
const alphabet = ['a', 'Z', '7', ' ', ',', '"', '\r', '\n', ';', "'", 'é', '€', '😀', '\t', '=', '\\'];

const randomText = (seed: number): string => {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length: next() % 12 }, () => alphabet[next() % alphabet.length]).join('');
};

describe('csvField', () => {
  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\r', '"cr\r"'],
    ['', ''],
  ])('encodes %j as %j', (input, expected) => {
    expect(csvField(input)).toBe(expected);
  });

  it('writes the same record bytes as csv-stringify for 5,000 random rows of awkward text', () => {
    for (let seed = 1; seed <= 5000; seed++) {
      const fields = [randomText(seed), randomText(seed * 7 + 1), randomText(seed * 13 + 5)];
      const ours = `${fields.map(csvField).join(',')}\r\n`;
      // Quoting a lone CR or LF too (csv-stringify quotes only its record delimiter) keeps every reader safe.
      expect(ours).toBe(stringify([fields], { record_delimiter: '\r\n', quoted_match: /[\r\n]/ }));
    }
  });
});
