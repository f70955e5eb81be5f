import { describe, expect, it } from 'vitest';
import { heatmap, parseValues, shade } from './heatmap';

const row = (rank: number, fast: number, slow: number, sharpe: number | null) => ({ rank, params: { fast, slow }, metrics: { sharpe } });

describe('optimisation heatmap', () => {
	it('places each ranked combination on the (x, y) grid, sorted axes, missing cells null', () => {
		const h = heatmap([row(1, 10, 30, 1.5), row(2, 5, 30, 0.5), row(3, 5, 20, -0.25)], 'fast', 'slow', 'sharpe');
		expect(h.xs).toEqual([5, 10]);
		expect(h.ys).toEqual([20, 30]);
		expect(h.cell(10, 30)).toBe(1.5);
		expect(h.cell(10, 20)).toBeNull();
		expect([h.lo, h.hi]).toEqual([-0.25, 1.5]);
	});
	it('shades best green and worst red, reversed when lower is better', () => {
		expect(shade(1, 0, 1)).toBe('rgb(30, 110, 60)');
		expect(shade(0, 0, 1)).toBe('rgb(160, 40, 40)');
		expect(shade(0, 0, 1, true)).toBe('rgb(30, 110, 60)');
		expect(shade(null, 0, 1)).toBe('transparent');
	});
	it('parses a list of values', () => {
		expect(parseValues('5, 10 ;15')).toEqual([5, 10, 15]);
		expect(parseValues('5, x')).toBeNull();
		expect(parseValues('')).toBeNull();
	});
});
