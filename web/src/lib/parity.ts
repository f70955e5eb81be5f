/** Why a bot has no parity report for a day (HTTP 409, a notice, not a fault), in the user's
 * language: by the strategy service's stable reason code and the values it names; a reason
 * this UI does not know is shown as the service wrote it, without the `field: ` it starts with. */
import type { ApiError } from '$lib/api/client';
import type { Key } from '$lib/i18n';

type Tr = (key: Key, params?: Record<string, string | number>) => string;

const REASONS: Record<string, Key> = {
	parity_not_run: 'bots.parity_not_run',
	parity_no_candles: 'bots.parity_no_candles',
	parity_custom: 'bots.parity_custom'
};

export function parityReason(err: Pick<ApiError, 'message' | 'reason' | 'params' | 'field'>,
	tr: Tr): string {
	const key = REASONS[err.reason];
	if (key) return tr(key, err.params);
	const named = `${err.field}: `;
	return err.field && err.message.startsWith(named) ? err.message.slice(named.length) : err.message;
}
