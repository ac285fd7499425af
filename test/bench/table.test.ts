import { expect, it } from 'vitest';
import { renderTable } from './table.js';

it('aligns the first column left and the others right, under a header and a rule', () => {
  expect(
    renderTable([
      { name: 'a', n: '1' },
      { name: 'longer', n: '100', extra: 'x' },
    ]).split('\n'),
  ).toEqual(['name      n  extra', '------  ---  -----', 'a         1', 'longer  100      x']);
});
