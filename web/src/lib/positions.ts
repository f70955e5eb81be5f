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
