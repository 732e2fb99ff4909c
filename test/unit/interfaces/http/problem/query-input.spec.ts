import { queryInteger } from '../../../../../src/interfaces/http/problem/query-input.js';

describe('queryInteger', () => {
  const limit = queryInteger(1, 100, 20);

  it.each([
    ['1', 1],
    ['100', 100],
    ['05', 5],
    [undefined, 20],
  ])('given %p, then it reads %p', (raw, read) => {
    expect(limit.parse(raw)).toBe(read);
  });

  it.each([
    ['0x10'],
    ['1e1'],
    [' 5'],
    ['5 '],
    ['+5'],
    ['-0'],
    ['1.0'],
    [''],
    ['0'],
    ['101'],
    [['1']],
    [['1', '2']],
  ])('given %p, then it is refused', (raw) => {
    expect(limit.safeParse(raw).success).toBe(false);
  });
});
