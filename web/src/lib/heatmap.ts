/** An optimisation's ranking as a two-parameter grid: one cell per (x, y) the ranking holds
 * (the service keeps the top 10, so a bigger grid has empty cells), shaded by the metric. */
export interface OptRow { rank: number; params: Record<string, number>; metrics: Record<string, number | null> }
export interface Heatmap { xs: number[]; ys: number[]; cell: (x: number, y: number) => number | null; lo: number; hi: number }

export function heatmap(rows: OptRow[], x: string, y: string, metric: string): Heatmap {
	const vals = new Map<string, number | null>();
	const xs = new Set<number>(), ys = new Set<number>();
	for (const r of rows) {
		const a = r.params[x], b = r.params[y];
		if (a === undefined || b === undefined) continue;
		xs.add(a);
		ys.add(b);
		vals.set(`${a}|${b}`, r.metrics[metric] ?? null);
	}
	const finite = [...vals.values()].filter((v): v is number => v !== null && Number.isFinite(v));
	return {
		xs: [...xs].sort((p, q) => p - q), ys: [...ys].sort((p, q) => p - q),
		cell: (a, b) => vals.get(`${a}|${b}`) ?? null,
		lo: finite.length ? Math.min(...finite) : 0, hi: finite.length ? Math.max(...finite) : 0
	};
}

/** Red (worst) → gold → green (best); max_drawdown is better when smaller. */
export function shade(v: number | null, lo: number, hi: number, lowerIsBetter = false): string {
	if (v === null) return 'transparent';
	let f = hi > lo ? (v - lo) / (hi - lo) : 1;
	if (lowerIsBetter) f = 1 - f;
	const mix = (a: number, b: number, t: number) => Math.round(a + (b - a) * t);
	const [r, g, b] = f < 0.5
		? [mix(160, 150, f * 2), mix(40, 120, f * 2), mix(40, 40, f * 2)]
		: [mix(150, 30, (f - 0.5) * 2), mix(120, 110, (f - 0.5) * 2), mix(40, 60, (f - 0.5) * 2)];
	return `rgb(${r}, ${g}, ${b})`;
}

/** "5, 10, 15" → [5, 10, 15]; null when any value is not a number. */
export function parseValues(text: string): number[] | null {
	const parts = text.split(/[\s,;]+/).filter(Boolean);
	const nums = parts.map(Number);
	return parts.length && nums.every(Number.isFinite) ? nums : null;
}
