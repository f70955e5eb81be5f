/** Sort, filter and page the rows of a table — pure, so every page's table behaves the same
 * and the unit tests check it once. Numbers compare as numbers, ISO times as text (which
 * orders them), missing values last. */
import { writable, type Writable } from 'svelte/store';

export type Dir = 'asc' | 'desc';
export interface View {
	sort: string;
	dir: Dir;
	filter: string;
	page: number;
	size: number;
}

export function compare(a: unknown, b: unknown): number {
	const na = a === null || a === undefined || a === '';
	const nb = b === null || b === undefined || b === '';
	if (na || nb) return na === nb ? 0 : na ? 1 : -1;
	if (typeof a === 'number' && typeof b === 'number') return a - b;
	return String(a).localeCompare(String(b), 'en', { numeric: true });
}

export function sortRows<T>(rows: T[], key: string, dir: Dir, get: (r: T, k: string) => unknown =
	(r, k) => (r as Record<string, unknown>)[k]): T[] {
	if (!key) return rows;
	const sign = dir === 'asc' ? 1 : -1;
	return rows
		.map((r, i) => [r, i] as const)
		.sort(([a, ia], [b, ib]) => {
			const va = get(a, key), vb = get(b, key);
			const missing = (v: unknown) => v === null || v === undefined || v === '';
			if (missing(va) || missing(vb)) return compare(va, vb) || ia - ib; // missing last either way
			return sign * compare(va, vb) || ia - ib;
		})
		.map(([r]) => r);
}

/** Rows any of whose values contains every word of the filter (case-insensitive). */
export function filterRows<T extends object>(rows: T[], text: string): T[] {
	const words = text.toLowerCase().split(/\s+/).filter(Boolean);
	if (!words.length) return rows;
	return rows.filter((r) => {
		const hay = Object.values(r).map((v) => (typeof v === 'object' ? '' : String(v))).join(' ').toLowerCase();
		return words.every((w) => hay.includes(w));
	});
}

export function pageRows<T>(rows: T[], page: number, size: number): { rows: T[]; page: number; pages: number } {
	const pages = Math.max(1, Math.ceil(rows.length / size));
	const p = Math.min(Math.max(1, page), pages);
	return { rows: rows.slice((p - 1) * size, p * size), page: p, pages };
}

export function view<T extends object>(rows: T[], v: View): { rows: T[]; page: number; pages: number; total: number } {
	const filtered = filterRows(rows, v.filter);
	const sorted = sortRows(filtered, v.sort, v.dir);
	return { ...pageRows(sorted, v.page, v.size), total: filtered.length };
}

/** A header click: the same column flips direction, a new one starts descending for
 * numbers-first tables (newest, largest) unless told otherwise. */
export function toggle(v: View, key: string, first: Dir = 'desc'): View {
	return v.sort === key ? { ...v, dir: v.dir === 'asc' ? 'desc' : 'asc', page: 1 } : { ...v, sort: key, dir: first, page: 1 };
}

export function tableState(sort = '', dir: Dir = 'desc', size = 20): Writable<View> {
	return writable({ sort, dir, filter: '', page: 1, size });
}

/** One column of a `DataTable`: its header, the text of a row's cell, how it sorts. */
export interface Column<T> {
	/** the row's field it sorts by */
	key: string;
	label: string;
	text: (row: T) => string;
	/** right-aligned tabular figures (and a header click starts descending) */
	num?: boolean;
	/** the first direction of a header click (default descending) */
	first?: Dir;
	/** false: a plain header, not sortable */
	sort?: boolean;
	/** extra classes of the cell, e.g. signClass of an amount */
	cls?: (row: T) => string;
}

/** The colour class of an amount by its sign: 'gain', 'loss' or '' for zero / none. */
export function signClass(v: number | bigint | null | undefined): string {
	if (v === null || v === undefined) return '';
	return v > 0 ? 'gain' : v < 0 ? 'loss' : '';
}
