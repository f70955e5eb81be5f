import { ApiError } from './api/client';

/** The words to show for a failed call: the API's own message, else the error's. */
export function words(e: unknown): string {
	return e instanceof ApiError || e instanceof Error ? e.message : String(e);
}

/** A refusal that is the service's ordinary answer to a read, not a fault: 409 `conflict`, a
 * precondition of the question not met (a bot's parity of a day it did not run, of a day with
 * no stored candles). Shown as a neutral notice, not as an error. */
export function isNotice(e: unknown): e is ApiError {
	return e instanceof ApiError && e.status === 409 && e.kind === 'conflict';
}
