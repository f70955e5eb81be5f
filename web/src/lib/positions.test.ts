import { describe, expect, it } from 'vitest';
import { mtmPaise, type Position } from './positions';

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
