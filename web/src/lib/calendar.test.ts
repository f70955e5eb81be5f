import { describe, expect, it } from 'vitest';
import { monthGrid } from './calendar';

describe('monthGrid', () => {
	it('starts weeks on Monday and pads with blanks', () => {
		const march = monthGrid('2026-03'); // 1 March 2026 is a Sunday
		expect(march[0]).toEqual([null, null, null, null, null, null, '2026-03-01']);
		expect(march.flat().filter(Boolean)).toHaveLength(31);
		expect(march.every((w) => w.length === 7)).toBe(true);
		expect(march.at(-1)![1]).toBe('2026-03-31'); // a Tuesday
	});
	it('knows leap years', () => {
		expect(monthGrid('2028-02').flat().filter(Boolean)).toHaveLength(29);
		expect(monthGrid('2026-02').flat().filter(Boolean)).toHaveLength(28);
	});
});
