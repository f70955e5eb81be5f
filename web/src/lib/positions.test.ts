import { describe, expect, it } from 'vitest';
import { gttBody, gttOf, mtmPaise, type Position } from './positions';

const long: Position = { exchange: 'NSE', symbol: 'INFY', product: 'MIS', quantity: 5, average_price: 1563.45,
	last_price: 1563.45, realized_pnl: 12.5, unrealized_pnl: 0, stop_loss: 0, target: 0 };

describe('mark-to-market', () => {
	it('values a long at the live price exactly, with what is realised', () => {
		expect(mtmPaise(long, 1570.1)).toBe(1250n + 665n * 5n);
	});
	it('gains on a short when the price falls', () => {
		expect(mtmPaise({ ...long, quantity: -3, realized_pnl: 0 }, 1500)).toBe(6345n * 3n);
	});
	it('uses the service figures without a live price', () => {
		expect(mtmPaise({ ...long, unrealized_pnl: -7.25 }, null)).toBe(1250n - 725n);
	});
});

describe('GTT stop and target of a position', () => {
	const long = { exchange: 'NSE', symbol: 'INFY', product: 'CNC', quantity: 5, average_price: 1500, last_price: 1500, realized_pnl: 0, unrealized_pnl: 0, stop_loss: 0, target: 0 };
	const leg = (x: number) => ({ trigger_price: x, side: 'SELL', quantity: 5, price: x });
	it('an OCO: the lower trigger stops a long, the higher is its target; reversed for a short; dead GTTs ignored', () => {
		const gtts = [
			{ gtt_id: 'old', exchange: 'NSE', symbol: 'INFY', type: 'two-leg', status: 'cancelled', legs: [leg(1), leg(2)] },
			{ gtt_id: 'g1', exchange: 'NSE', symbol: 'INFY', type: 'two-leg', status: 'active', legs: [leg(1600), leg(1450)] }
		];
		expect(gttOf(gtts, long)).toEqual({ id: 'g1', stop: 1450, target: 1600 });
		expect(gttOf(gtts, { ...long, quantity: -5 })).toEqual({ id: 'g1', stop: 1600, target: 1450 });
		expect(gttOf(gtts.slice(0, 1), long)).toBeNull();
	});
	it('a single trigger is a stop below the price of a long, else a target', () => {
		const one = (x: number) => [{ gtt_id: 'g', exchange: 'NSE', symbol: 'INFY', type: 'single', status: 'active', legs: [leg(x)] }];
		expect(gttOf(one(1400), long)).toEqual({ id: 'g', stop: 1400, target: null });
		expect(gttOf(one(1700), long)).toEqual({ id: 'g', stop: null, target: 1700 });
	});
	it('the body closes the position: opposite side, its quantity, one leg per price given', () => {
		const b = gttBody('PAPER1', long, 1450, null, 1500.5);
		expect(b.legs).toEqual([{ trigger_price: 1450, side: 'SELL', quantity: 5, price: 1450 }]);
		expect(gttBody('PAPER1', { ...long, quantity: -3 }, 1600, 1400, 1500).legs.map((l) => [l.side, l.quantity])).toEqual([['BUY', 3], ['BUY', 3]]);
	});
});
