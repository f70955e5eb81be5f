import { describe, expect, it } from 'vitest';
import { translate } from './i18n';
import { parityReason } from './parity';

const fr = (key: Parameters<typeof translate>[1], p?: Record<string, string | number>) => translate('fr', key, p);

describe('parity notice', () => {
	it('says why there is no report in the user language', () => {
		expect(parityReason('date: bot b1 did not run on 2026-03-04', fr)).toBe("Le robot n'a pas tourné le 2026-03-04");
		expect(parityReason('date: no minute candles of NSE:INFY stored for 2026-03-04', fr)).toBe(
			'Aucune bougie minute de NSE:INFY stockée pour le 2026-03-04'
		);
		expect(parityReason('parity of custom-code bots is not built yet', fr)).toMatch(/code personnalisé/);
	});
	it('shows an unknown reason as the service wrote it, without the field', () => {
		expect(parityReason('date: something new', fr)).toBe('something new');
	});
});
