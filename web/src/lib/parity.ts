/** The strategy service's reasons why a bot has no parity report for a day (HTTP 409, a
 * notice, not a fault) in the user's language; an unknown reason is shown as the service
 * wrote it. */
import type { Key } from '$lib/i18n';

type Tr = (key: Key, params?: Record<string, string | number>) => string;

const REASONS: [RegExp, Key, string[]][] = [
	[/^(?:date: )?bot \S+ did not run on (\S+)$/, 'bots.parity_not_run', ['day']],
	[/^(?:date: )?no (\S+) candles of (\S+) stored for (\S+)$/, 'bots.parity_no_candles', ['interval', 'symbol', 'day']],
	[/^(?:deployment_id: )?parity of custom-code bots is not built yet$/, 'bots.parity_custom', []]
];

export function parityReason(message: string, tr: Tr): string {
	for (const [pattern, key, names] of REASONS) {
		const m = pattern.exec(message);
		if (m) return tr(key, Object.fromEntries(names.map((n, i) => [n, m[i + 1]])));
	}
	return message.replace(/^date: /, '');
}
