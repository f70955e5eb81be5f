import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, beginSession, endSession, get, post } from './client';

// the browser's fetch, answering 200 {} unless the call's signal is aborted first
function fakeFetch(hold = false) {
	const sent: string[] = [];
	const fn = vi.fn((input: string, init: RequestInit) => {
		sent.push(input);
		return new Promise<Response>((resolve, reject) => {
			const answer = () => resolve(new Response('{}', { status: 200 }));
			init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
			if (!hold) answer();
		});
	});
	return { fn, sent };
}

describe('signing out ends the calls the pages left running', () => {
	beforeEach(() => beginSession());
	afterEach(() => {
		vi.unstubAllGlobals();
		beginSession();
	});

	it('refuses a read sent after the sign-out without reaching the gateway', async () => {
		const f = fakeFetch();
		vi.stubGlobal('fetch', f.fn);
		await expect(get('/api/v1/trades')).resolves.toEqual({});
		endSession();
		const err = await get('/api/v1/trades').catch((e) => e);
		expect(err).toBeInstanceOf(ApiError);
		expect(err.kind).toBe('signed_out');
		expect(f.sent).toEqual(['/api/v1/trades']);
	});

	it('aborts a read still on its way', async () => {
		const f = fakeFetch(true);
		vi.stubGlobal('fetch', f.fn);
		const pending = get('/api/pnl-calendar').catch((e) => e);
		endSession();
		const err = await pending;
		expect(err).toBeInstanceOf(ApiError);
		expect(err.kind).toBe('signed_out');
	});

	it('lets the sign-out and the next sign-in through, and reads again after it', async () => {
		const f = fakeFetch();
		vi.stubGlobal('fetch', f.fn);
		endSession();
		await post('/api/v1/auth/logout');
		await post('/api/v1/auth/session', { username: 'u', password: 'p' });
		await expect(get('/api/v1/auth/me')).rejects.toBeInstanceOf(ApiError); // not signed in yet
		beginSession();
		await expect(get('/api/v1/auth/me')).resolves.toEqual({});
		expect(f.sent).toEqual(['/api/v1/auth/logout', '/api/v1/auth/session', '/api/v1/auth/me']);
	});

	it('ends the session when the gateway answers 401: the reads after it stay here', async () => {
		const sent: string[] = [];
		vi.stubGlobal('fetch', vi.fn(async (input: string) => {
			sent.push(input);
			return new Response('{"error": "session expired", "error_type": "auth"}', { status: 401 });
		}));
		const first = await get('/api/v1/positions').catch((e) => e);
		expect(first.status).toBe(401);
		const next = await get('/api/v1/orders').catch((e) => e);
		expect(next.kind).toBe('signed_out');
		expect(sent).toEqual(['/api/v1/positions']);
	});
});
