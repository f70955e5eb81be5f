import { describe, expect, it } from 'vitest';
import { filterRows, pageRows, signClass, sortRows, toggle, view, type View } from './table';

const rows = [
	{ id: 'a', symbol: 'INFY', qty: 10, at: '2026-03-04T04:00:00Z' },
	{ id: 'b', symbol: 'TCS', qty: 2, at: '2026-03-04T03:50:00Z' },
	{ id: 'c', symbol: 'INFY', qty: 100, at: null },
	{ id: 'd', symbol: 'WIPRO', qty: 2, at: '2026-03-04T05:00:00Z' }
];

describe('table', () => {
	it('sorts numbers as numbers, stable, missing values last both ways', () => {
		expect(sortRows(rows, 'qty', 'asc').map((r) => r.id)).toEqual(['b', 'd', 'a', 'c']);
		expect(sortRows(rows, 'qty', 'desc').map((r) => r.id)).toEqual(['c', 'a', 'b', 'd']);
		expect(sortRows(rows, 'at', 'desc').map((r) => r.id)).toEqual(['d', 'a', 'b', 'c']);
		expect(sortRows(rows, 'at', 'asc').map((r) => r.id)).toEqual(['b', 'a', 'd', 'c']);
	});
	it('filters on every word, case-insensitive', () => {
		expect(filterRows(rows, 'infy').map((r) => r.id)).toEqual(['a', 'c']);
		expect(filterRows(rows, 'infy 100').map((r) => r.id)).toEqual(['c']);
		expect(filterRows(rows, '  ')).toHaveLength(4);
	});
	it('pages and clamps the page number', () => {
		expect(pageRows(rows, 2, 3)).toEqual({ rows: [rows[3]], page: 2, pages: 2 });
		expect(pageRows(rows, 9, 3).page).toBe(2);
		expect(pageRows([], 1, 3)).toEqual({ rows: [], page: 1, pages: 1 });
	});
	it('toggles the direction on the same column and resets the page', () => {
		const v: View = { sort: 'qty', dir: 'desc', filter: '', page: 3, size: 2 };
		expect(toggle(v, 'qty')).toMatchObject({ sort: 'qty', dir: 'asc', page: 1 });
		expect(toggle(v, 'symbol', 'asc')).toMatchObject({ sort: 'symbol', dir: 'asc', page: 1 });
		const out = view(rows, { sort: 'qty', dir: 'asc', filter: 'infy', page: 1, size: 1 });
		expect(out).toMatchObject({ total: 2, pages: 2, page: 1 });
		expect(out.rows.map((r) => r.id)).toEqual(['a']);
	});
	it('colours an amount by its sign', () => {
		expect([12.5, -0.01, 0, null, undefined, 3n, -3n, 0n].map(signClass)).toEqual(
			['gain', 'loss', '', '', '', 'gain', 'loss', '']);
	});
});
