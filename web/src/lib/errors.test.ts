import { describe, expect, it } from 'vitest';
import { ApiError } from './api/client';
import { isNotice, words } from './errors';

describe('errors', () => {
	it('takes a 409 conflict (a precondition not met) as the service answering, not failing', () => {
		const ran = new ApiError('date: bot b1 did not run on 2026-03-04', 409, 'conflict');
		expect(isNotice(ran)).toBe(true);
		expect(words(ran)).toBe('date: bot b1 did not run on 2026-03-04');
	});
	it('keeps every other failure an error', () => {
		expect(isNotice(new ApiError('date: not a day', 400, 'validation'))).toBe(false);
		expect(isNotice(new ApiError('bot not found', 404, 'not_found'))).toBe(false);
		expect(isNotice(new ApiError('the Kite login is needed', 409, 'kite_login_needed'))).toBe(false);
		expect(isNotice(new ApiError('internal error', 500, 'unknown'))).toBe(false);
		expect(isNotice(new ApiError('the gateway cannot be reached', 0, 'network'))).toBe(false);
		expect(isNotice(new Error('conflict'))).toBe(false);
		expect(isNotice('409')).toBe(false);
	});
});
