/** Numbers and times as an Indian trader reads them: ₹1,23,456.78 (lakh/crore grouping) and
 * exchange time in IST (Asia/Kolkata), whatever the browser's own zone and language. */

const IST = 'Asia/Kolkata';

/** Groups the integer digits the Indian way: last three, then pairs (12,34,56,789). */
export function groupIndian(digits: string): string {
	if (digits.length <= 3) return digits;
	const last3 = digits.slice(-3);
	const rest = digits.slice(0, -3).replace(/\B(?=(\d{2})+(?!\d))/g, ',');
	return `${rest},${last3}`;
}

/** Exact money from integer paise: 12345678 → "₹1,23,456.78", -5 → "-₹0.05". */
export function rupeesFromPaise(paise: number | bigint, opts: { sign?: boolean } = {}): string {
	const p = BigInt(paise);
	const neg = p < 0n;
	const abs = neg ? -p : p;
	const whole = groupIndian((abs / 100n).toString());
	const frac = (abs % 100n).toString().padStart(2, '0');
	const sign = neg ? '-' : opts.sign && p > 0n ? '+' : '';
	return `${sign}₹${whole}.${frac}`;
}

/** Rupees given as a decimal number or string from the API (e.g. 1234.5 or "1234.50"),
 * rounded half away from zero to paise without float drift. */
export function rupees(value: number | string | null | undefined, opts: { sign?: boolean } = {}): string {
	if (value === null || value === undefined || value === '') return '—';
	return rupeesFromPaise(toPaise(value), opts);
}

/** Decimal rupees → integer paise, exactly for strings, to the nearest paisa for numbers. */
export function toPaise(value: number | string): bigint {
	const text = typeof value === 'number' ? value.toFixed(4) : value.trim();
	const m = /^([+-])?(\d*)(?:\.(\d*))?$/.exec(text);
	if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new RangeError(`not a rupee amount: ${value}`);
	const neg = m[1] === '-';
	const frac = (m[3] ?? '').padEnd(3, '0');
	let paise = BigInt(m[2] || '0') * 100n + BigInt(frac.slice(0, 2));
	if (Number(frac[2]) >= 5) paise += 1n;
	return neg ? -paise : paise;
}

/** A plain number with Indian grouping and fixed decimals: 1234567.5 → "12,34,567.50". */
export function number(value: number | null | undefined, decimals = 2): string {
	if (value === null || value === undefined || Number.isNaN(value)) return '—';
	const neg = value < 0;
	const [int, frac] = Math.abs(value).toFixed(decimals).split('.');
	return `${neg ? '-' : ''}${groupIndian(int)}${frac ? '.' + frac : ''}`;
}

export function percent(value: number | null | undefined, decimals = 1): string {
	return value === null || value === undefined ? '—' : `${number(value, decimals)} %`;
}

function parts(at: Date | string | number): Record<string, string> {
	const d = at instanceof Date ? at : new Date(at);
	const f = new Intl.DateTimeFormat('en-GB', {
		timeZone: IST, year: 'numeric', month: '2-digit', day: '2-digit',
		hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23'
	});
	return Object.fromEntries(f.formatToParts(d).map((p) => [p.type, p.value]));
}

/** "26-11-2026 15:04:05 IST" for an instant (ISO string, epoch ms or Date). */
export function istDateTime(at: Date | string | number | null | undefined): string {
	if (at === null || at === undefined || at === '') return '—';
	const p = parts(at);
	return `${p.day}-${p.month}-${p.year} ${p.hour}:${p.minute}:${p.second} IST`;
}

/** "15:04:05" in IST. */
export function istTime(at: Date | string | number | null | undefined): string {
	if (at === null || at === undefined || at === '') return '—';
	const p = parts(at);
	return `${p.hour}:${p.minute}:${p.second}`;
}

/** The IST calendar day of an instant as YYYY-MM-DD (the exchange's "today"). */
export function istDay(at: Date | string | number = Date.now()): string {
	const p = parts(at);
	return `${p.year}-${p.month}-${p.day}`;
}

/** A calendar day (YYYY-MM-DD) in words, in the UI's language: "Wed 4 Mar 2026". A native date
 * input writes its day in the browser's own order (04/03/2026 or 03/04/2026); this, next to it,
 * leaves no doubt which day was picked. '' for anything that is not a day. */
export function dayText(day: string, lang: 'en' | 'fr' = 'en'): string {
	if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return '';
	const d = new Date(`${day}T00:00:00Z`);
	if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== day) return '';
	const p = Object.fromEntries(new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-IN', {
		weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC'
	}).formatToParts(d).map((x) => [x.type, x.value]));
	return `${p.weekday} ${p.day} ${p.month} ${p.year}`; // one order, whatever the ICU's punctuation
}
