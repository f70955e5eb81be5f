/** Backtest trades as chart markers: each entry and exit snapped to the bar that holds it (the
 * last bar starting at or before it), so daily candles show intraday fills on their day. */
import { chartTime } from '$lib/indicators';

export interface Trade { symbol: string; side: string; quantity: number; entry_time: string; entry_price: number; exit_time: string | null; exit_price: number }
export interface Marker { time: number; position: 'belowBar' | 'aboveBar'; shape: 'arrowUp' | 'arrowDown'; color: string; text: string }

export const ENTRY_COLOUR = '#2ec4ff';
export const EXIT_COLOUR = '#e86bff';

function snap(bars: number[], t: number): number | null {
	let lo = 0, hi = bars.length - 1, found = -1;
	while (lo <= hi) {
		const mid = (lo + hi) >> 1;
		if (bars[mid] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
	}
	return found < 0 ? null : bars[found];
}

/** Markers for the trades of `symbol` inside the bars' span, in time order (as the chart needs). */
export function tradeMarkers(trades: Trade[], symbol: string, barDates: string[]): Marker[] {
	const bars = barDates.map(chartTime);
	if (!bars.length) return [];
	const end = bars[bars.length - 1] + 86_400;
	const out: Marker[] = [];
	const add = (iso: string | null, entry: boolean, t: Trade) => {
		if (!iso) return;
		const at = chartTime(iso);
		const time = at < end ? snap(bars, at) : null;
		if (time === null) return;
		const buy = (t.side.toLowerCase() === 'buy' || t.side.toLowerCase() === 'long') === entry;
		out.push({
			time, position: buy ? 'belowBar' : 'aboveBar', shape: buy ? 'arrowUp' : 'arrowDown',
			color: entry ? ENTRY_COLOUR : EXIT_COLOUR, text: String(t.quantity)
		});
	};
	for (const t of trades) {
		if (t.symbol !== symbol && !symbol.endsWith(`:${t.symbol}`)) continue;
		add(t.entry_time, true, t);
		add(t.exit_time, false, t);
	}
	return out.sort((a, b) => a.time - b.time);
}
