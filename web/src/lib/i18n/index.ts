/** A tiny translation store: every UI string is a key of `en` (the reference catalogue);
 * `fr` must have the same keys (a unit test checks). `{name}` placeholders are filled from
 * the params. The language is kept in localStorage and set on <html lang>. */
import { derived, writable, type Readable } from 'svelte/store';
import { en, type Key } from './en';
import { fr } from './fr';

export type Lang = 'en' | 'fr';
export const catalogues: Record<Lang, Record<Key, string>> = { en, fr };
export const languages: Lang[] = ['en', 'fr'];
const STORAGE = 'mandi.lang';

function initial(): Lang {
	try {
		const saved = globalThis.localStorage?.getItem(STORAGE);
		if (saved === 'en' || saved === 'fr') return saved;
	} catch {
		/* storage blocked: English */
	}
	return 'en';
}

export const lang = writable<Lang>(initial());
lang.subscribe((l) => {
	try {
		globalThis.localStorage?.setItem(STORAGE, l);
	} catch {
		/* not kept */
	}
	if (typeof document !== 'undefined') document.documentElement.lang = l;
});

export function translate(l: Lang, key: Key, params: Record<string, string | number> = {}): string {
	const text = catalogues[l][key] ?? en[key] ?? key;
	return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** `$t('nav.orders')` in components. */
export const t: Readable<(key: Key, params?: Record<string, string | number>) => string> =
	derived(lang, (l) => (key: Key, params?: Record<string, string | number>) => translate(l, key, params));

export type { Key };
