/** Overlays drawn on the candle chart, computed in the browser from the closes shown (the
 * server's /api/v1/analysis/indicators gives the same on request). null until warmed up. */

export function sma(values: number[], n: number): (number | null)[] {
	const out: (number | null)[] = [];
	let sum = 0;
	for (let i = 0; i < values.length; i++) {
		sum += values[i];
		if (i >= n) sum -= values[i - n];
		out.push(i >= n - 1 ? sum / n : null);
	}
	return out;
}

/** EMA seeded with the SMA of the first n values (as TA-Lib and the platform's indicators). */
export function ema(values: number[], n: number): (number | null)[] {
	const out: (number | null)[] = [];
	const k = 2 / (n + 1);
	let prev: number | null = null;
	let seed = 0;
	for (let i = 0; i < values.length; i++) {
		if (i < n - 1) {
			seed += values[i];
			out.push(null);
		} else if (i === n - 1) {
			prev = (seed + values[i]) / n;
			out.push(prev);
		} else {
			prev = values[i] * k + (prev as number) * (1 - k);
			out.push(prev);
		}
	}
	return out;
}

/** The chart's time for an instant: seconds, shifted so the axis reads IST (the chart
 * library labels its times as UTC). */
export function chartTime(iso: string): number {
	return Math.floor(Date.parse(iso) / 1000) + 5.5 * 3600;
}
