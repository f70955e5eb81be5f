/** REST calls to the gateway from the same origin: the session cookie rides along, unsafe
 * methods send the CSRF cookie's value as X-CSRF-Token, and an error answer becomes an
 * ApiError carrying the API's own words (`error`) and kind (`error_type`). */
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type ApiPath = keyof paths;
export type OrderBody = Schemas['OrderBody'];
export type LoginBody = Schemas['LoginBody'];
export type BotBody = Schemas['BotBody'];

export class ApiError extends Error {
	/** `reason`/`params`: the API's stable code for why, and the values its message names;
	 * `field`: the input at fault; the message starts with `field: ` unless it names it already */
	constructor(message: string, readonly status: number, readonly kind: string,
		readonly reason = '', readonly params: Record<string, string> = {}, readonly field = '') {
		super(message);
	}
}

type Query = Record<string, string | number | boolean | null | undefined>;
type Json = Record<string, unknown>;

export function cookie(name: string): string {
	if (typeof document === 'undefined') return '';
	const hit = document.cookie.split('; ').find((c) => c.startsWith(name + '='));
	return hit ? decodeURIComponent(hit.slice(name.length + 1)) : '';
}

let onUnauthorized: () => void = () => {};
/** What to do when a call answers 401 (the layout sends the user to /login). */
export function setUnauthorizedHandler(fn: () => void): void {
	onUnauthorized = fn;
}

/** A credential refused elsewhere (a WebSocket closed with 4401): as a REST 401. */
export function unauthorized(): void {
	endSession();
	onUnauthorized();
}

// Signing out — or the gateway ending the session (a 401, a socket closed 4401) — ends the calls
// the pages left running: one already sent is aborted (its late answer would be a 401), and one
// a page's unfinished work sends afterwards fails here without reaching the gateway, until the
// next sign-in. Only signing in and out go out meanwhile.
let calls = new AbortController();
let signedOut = false;
const SIGN_IN_OUT = new Set(['/api/v1/auth/session', '/api/v1/auth/logout']);

export function endSession(): void {
	signedOut = true;
	calls.abort();
	calls = new AbortController();
}

export function beginSession(): void {
	signedOut = false;
}

const ended = () => new ApiError('signed out', 0, 'signed_out');

export function url(path: string, query: Query = {}): string {
	const q = Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '');
	return q.length ? `${path}?${new URLSearchParams(q.map(([k, v]) => [k, String(v)]))}` : path;
}

export async function api<T = Json>(method: string, path: ApiPath | string,
	opts: { query?: Query; body?: unknown; quiet401?: boolean } = {}): Promise<T> {
	if (signedOut && !SIGN_IN_OUT.has(path)) throw ended();
	const headers: Record<string, string> = { Accept: 'application/json' };
	if (!['GET', 'HEAD'].includes(method)) headers['X-CSRF-Token'] = cookie('mandi_csrf');
	if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
	const signal = calls.signal;
	let r: Response;
	let text: string;
	try {
		r = await fetch(url(path, opts.query), {
			method, headers, credentials: 'same-origin', signal,
			body: opts.body === undefined ? undefined : JSON.stringify(opts.body)
		});
		text = await r.text();
	} catch {
		if (signal.aborted) throw ended();
		throw new ApiError('the gateway cannot be reached', 0, 'network');
	}
	let data: unknown = null;
	try {
		data = text ? JSON.parse(text) : null;
	} catch {
		data = null;
	}
	if (!r.ok) {
		if (r.status === 401 && !opts.quiet401) unauthorized(); // the session is over: its reads too
		const d = (data ?? {}) as { error?: string; error_type?: string; reason?: string;
			params?: Record<string, string>; field?: string };
		throw new ApiError(d.error || `${r.status} ${r.statusText}`, r.status, d.error_type || 'api',
			d.reason || '', d.params ?? {}, d.field || '');
	}
	return data as T;
}

export const get = <T = Json>(path: ApiPath | string, query?: Query) => api<T>('GET', path, { query });
export const post = <T = Json>(path: ApiPath | string, body?: unknown, query?: Query) =>
	api<T>('POST', path, { body, query });
export const del = <T = Json>(path: ApiPath | string, query?: Query) => api<T>('DELETE', path, { query });
