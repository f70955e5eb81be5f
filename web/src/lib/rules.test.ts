import { describe, expect, it } from 'vitest';
import { fromDoc, newRule, operand, toDoc } from './rules';

describe('rule builder model', () => {
	it('maps rules to the service document: AND of comparisons, one edited parameter', () => {
		const r = newRule(1);
		r.conditions.push({ left: operand('indicator', { indicator: 'rsi', period: 14 }), op: '<', right: operand('value', { value: 70 }) });
		r.enabled = false;
		expect(toDoc([r])).toEqual({ rules: [{ id: 'rule-1', action: 'buy', priority: 0, enabled: false, when: { all: [
			{ left: { indicator: 'ema', params: { period: 10 } }, op: 'crosses_above', right: { indicator: 'ema', params: { period: 30 } } },
			{ left: { indicator: 'rsi', params: { period: 14 } }, op: '<', right: { value: 70 } }
		] } }] });
	});
	it('indicators without parameters and price fields', () => {
		const r = newRule(2);
		r.conditions = [{ left: operand('price', { price: 'close' }), op: '>', right: operand('indicator', { indicator: 'vwap' }) }];
		expect(toDoc([r]).rules[0].when).toEqual({ all: [{ left: { price: 'close' }, op: '>', right: { indicator: 'vwap' } }] });
	});
	it('round-trips through fromDoc; nested groups are refused', () => {
		const rules = [newRule(1), newRule(2)];
		expect(fromDoc(toDoc(rules))).toEqual(rules);
		expect(fromDoc({ rules: [{ id: 'x', action: 'buy', when: { all: [{ any: [] }] } }] })).toBeNull();
		expect(fromDoc({})).toBeNull();
	});
});
