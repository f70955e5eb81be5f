import { describe, expect, it } from 'vitest';
import { chartTime, ema, sma } from './indicators';

describe('indicators', () => {
	it('sma over a window, null until full', () => {
		expect(sma([1, 2, 3, 4, 5], 3)).toEqual([null, null, 2, 3, 4]);
	});
	it('ema seeded by the first sma (TA-Lib convention)', () => {
		const e = ema([1, 2, 3, 4, 5, 6], 3);
		expect(e.slice(0, 3)).toEqual([null, null, 2]);
		expect(e[3]).toBeCloseTo(3, 10); // 4*0.5 + 2*0.5
		expect(e[5]).toBeCloseTo(5, 10);
	});
	it('shifts instants so the axis shows IST', () => {
		expect(chartTime('2025-01-01T09:15:00+05:30')).toBe(Date.UTC(2025, 0, 1, 9, 15) / 1000);
	});
});
