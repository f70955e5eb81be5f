/** Who is signed in and which of their accounts the pages show. */
import { writable } from 'svelte/store';
import { ApiError, beginSession, endSession, get, post } from './api/client';

export interface Me {
	username: string;
	role: string;
	accounts: string[];
	all_accounts?: boolean;
}

export const me = writable<Me | null>(null);
export const account = writable<string>('');

export async function loadMe(): Promise<Me | null> {
	try {
		const m = await get<Me & { success: boolean }>('/api/v1/auth/me');
		if (m.all_accounts && m.accounts.length === 0) {
			// an admin holds every account without grants: list them
			const r = await get<{ accounts: { account_id: string }[] }>('/api/v1/accounts');
			m.accounts = r.accounts.map((a) => a.account_id);
		}
		me.set(m);
		account.update((a) => (a && m.accounts.includes(a) ? a : (m.accounts[0] ?? '')));
		return m;
	} catch (e) {
		if (e instanceof ApiError && e.status === 401) {
			me.set(null);
			return null;
		}
		throw e;
	}
}

export async function login(username: string, password: string): Promise<void> {
	await post('/api/v1/auth/session', { username, password });
	beginSession();
	await loadMe();
}

export async function logout(): Promise<void> {
	endSession(); // the pages' reads still running end here, not in a 401 after the logout
	try {
		await post('/api/v1/auth/logout');
	} finally {
		me.set(null);
		account.set('');
	}
}
