import { describe, expect, it } from 'vitest';
import { translate } from './i18n';
import { parityReason } from './parity';

const fr = (key: Parameters<typeof translate>[1], p?: Record<string, string | number>) => translate('fr', key, p);
const err = (message: string, reason = '', params: Record<string, string> = {}, field = 'date') =>
	({ message, reason, params, field });

describe('parity notice', () => {
	it('says why there is no report in the user language, by the reason code', () => {
		expect(parityReason(err('date: bot b1 did not run on 2026-03-04', 'parity_not_run', { day: '2026-03-04' }), fr))
			.toBe("Le robot n'a pas tourné le 2026-03-04");
		expect(parityReason(err('date: anything', 'parity_no_candles',
			{ interval: 'minute', symbol: 'NSE:INFY', day: '2026-03-04' }), fr))
			.toBe('Aucune bougie minute de NSE:INFY stockée pour le 2026-03-04');
		expect(parityReason(err('deployment_id: reworded', 'parity_custom'), fr)).toMatch(/code personnalisé/);
	});
	it('shows an unknown reason as the service wrote it, without the field', () => {
		expect(parityReason(err('date: something new', 'parity_new'), fr)).toBe('something new');
		expect(parityReason(err('date: bot b1 did not run on 2026-03-04'), fr)).toBe('bot b1 did not run on 2026-03-04');
	});
	it('keeps a message whole when it does not start with the field the API named', () => {
		expect(parityReason(err('Note: the day is a holiday', 'parity_new'), fr)).toBe('Note: the day is a holiday');
		expect(parityReason(err('day: not a trading day', 'parity_new', {}, ''), fr)).toBe('day: not a trading day');
	});
});
