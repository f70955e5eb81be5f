import { describe, expect, it } from 'vitest';
import { chartTime } from './indicators';
import { ENTRY_COLOUR, EXIT_COLOUR, tradeMarkers } from './markers';

const days = ['2025-01-01T03:45:00Z', '2025-01-02T03:45:00Z', '2025-01-03T03:45:00Z'];
const trade = (entry: string, exit: string | null, side = 'buy', symbol = 'NSE:INFY') =>
	({ symbol, side, quantity: 5, entry_time: entry, entry_price: 1, exit_time: exit, exit_price: 2 });

describe('trade markers', () => {
	it('snaps intraday fills to their bar, entries and exits coloured apart, in time order', () => {
		const m = tradeMarkers([trade('2025-01-02T09:00:00Z', '2025-01-01T05:00:00Z')], 'NSE:INFY', days);
		expect(m.map((x) => x.time)).toEqual([chartTime(days[0]), chartTime(days[1])]);
		expect(m[0]).toMatchObject({ color: EXIT_COLOUR, shape: 'arrowDown', text: '5' });
		expect(m[1]).toMatchObject({ color: ENTRY_COLOUR, shape: 'arrowUp', position: 'belowBar' });
	});
	it('a short enters with a down arrow; other symbols, open exits and out-of-range times are left out', () => {
		const m = tradeMarkers([
			trade('2025-01-03T04:00:00Z', null, 'sell'), trade('2025-01-02T04:00:00Z', null, 'buy', 'NSE:TCS'),
			trade('2024-12-01T04:00:00Z', '2025-02-01T04:00:00Z')
		], 'NSE:INFY', days);
		expect(m).toHaveLength(1);
		expect(m[0]).toMatchObject({ shape: 'arrowDown', color: ENTRY_COLOUR });
	});
});
