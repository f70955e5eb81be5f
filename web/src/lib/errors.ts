import { ApiError } from './api/client';

/** The words to show for a failed call: the API's own message, else the error's. */
export function words(e: unknown): string {
	return e instanceof ApiError || e instanceof Error ? e.message : String(e);
}
