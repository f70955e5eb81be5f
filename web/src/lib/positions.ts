import { toPaise } from './format';

export interface Position {
	exchange: string; symbol: string; product: string; quantity: number; average_price: number;
	last_price: number; realized_pnl: number; unrealized_pnl: number; stop_loss: number; target: number;
}

/** Mark-to-market in paise at a live price: realised + (ltp − average) × quantity (a short's
 * quantity is negative, so a falling price is its gain). Without a live price, the service's. */
export function mtmPaise(p: Position, ltp: number | null | undefined): bigint {
	const realized = toPaise(p.realized_pnl);
	if (ltp === null || ltp === undefined) return realized + toPaise(p.unrealized_pnl);
	return realized + (toPaise(ltp) - toPaise(p.average_price)) * BigInt(p.quantity);
}

export const positionKey = (p: Pick<Position, 'exchange' | 'symbol'>) => `${p.exchange}:${p.symbol}`;

export interface GttLeg { trigger_price: number; side: string; quantity: number; price: number }
export interface Gtt { gtt_id: string; exchange: string; symbol: string; type: string; status: string; legs: GttLeg[] }

const FINAL_GTT = new Set(['triggered', 'cancelled', 'deleted', 'expired', 'rejected', 'disabled']);

/** The live GTT protecting a position (the newest for its instrument), with its stop and target:
 * for a long, the stop is the trigger below and the target the one above; a short, the reverse. */
export function gttOf(gtts: Gtt[], p: Position): { id: string; stop: number | null; target: number | null } | null {
	const g = [...gtts].reverse().find((x) => x.exchange === p.exchange && x.symbol === p.symbol && !FINAL_GTT.has(x.status));
	if (!g) return null;
	const triggers = g.legs.map((l) => l.trigger_price).sort((a, b) => a - b);
	if (triggers.length === 2) {
		const [lo, hi] = triggers;
		return p.quantity >= 0 ? { id: g.gtt_id, stop: lo, target: hi } : { id: g.gtt_id, stop: hi, target: lo };
	}
	const only = triggers[0] ?? null;
	const belowIsStop = p.quantity >= 0 ? only !== null && only < p.last_price : only !== null && only > p.last_price;
	return { id: g.gtt_id, stop: belowIsStop ? only : null, target: belowIsStop ? null : only };
}

/** The GTT body that closes the position at the stop and/or the target (an OCO with both). */
export function gttBody(account: string, p: Position, stop: number | null, target: number | null, ltp: number) {
	const side = p.quantity > 0 ? 'SELL' : 'BUY';
	const qty = Math.abs(p.quantity);
	const legs = [stop, target].filter((x): x is number => x !== null && x > 0)
		.map((x) => ({ trigger_price: x, side, quantity: qty, price: x }));
	return { account_id: account, exchange: p.exchange, symbol: p.symbol, product: p.product, last_price: ltp, legs };
}
