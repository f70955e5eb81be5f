import { get } from 'svelte/store';
import { describe, expect, it } from 'vitest';
import { en } from './en';
import { fr } from './fr';
import { lang, t, translate } from './index';

describe('i18n', () => {
	it('has every English key in French, translated', () => {
		expect(Object.keys(fr).sort()).toEqual(Object.keys(en).sort());
		const same = Object.keys(en).filter((k) => en[k as keyof typeof en] === fr[k as keyof typeof en]);
		// names and symbols may stay the same; words and sentences may not
		expect(same.filter((k) => /[a-z]{2,}/.test(en[k as keyof typeof en].replace(/\{\w+\}/g, ''))).sort()).toEqual([
			'app.name', 'nav.positions', 'nav.backtest', 'nav.menu', 'common.actions', 'lang.en', 'lang.fr',
			'pos.title', 'bots.pause', 'bt.title', 'bt.capital', 'table.pages', 'notes.title', 'br.segment', 'st.version', 'adm.title'
		].sort());
	});
	it('fills placeholders and follows the language store', () => {
		expect(translate('en', 'ord.placed', { id: 'X1' })).toBe('Order X1 placed.');
		lang.set('fr');
		expect(get(t)('ord.placed', { id: 'X1' })).toBe('Ordre X1 passé.');
		lang.set('en');
		expect(get(t)('nav.orders')).toBe('Orders');
	});
	it('leaves an unknown placeholder visible', () => {
		expect(translate('en', 'ord.placed')).toBe('Order {id} placed.');
	});
});
