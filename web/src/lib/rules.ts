/** The visual rule builder's model and its mapping to the strategy service's `rules` document
 * (mandi/core/strategies/rules.py): each rule is an AND of comparisons; the service validates
 * and normalises it, naming the offending path (`rules[0].when.all[1].right.value`). */

export type OperandKind = 'indicator' | 'value' | 'price';
export interface Operand { kind: OperandKind; indicator: string; period: number; value: number; price: string }
export interface Condition { left: Operand; op: string; right: Operand }
export interface Rule { id: string; action: string; priority: number; enabled: boolean; conditions: Condition[] }

export const OPS = ['>', '<', 'crosses_above', 'crosses_below'];
export const ACTIONS = ['buy', 'sell', 'exit'];
export const PRICES = ['open', 'high', 'low', 'close', 'volume'];
/** Indicator → the one parameter the builder edits (the rest keep the service's defaults). */
export const INDICATORS: Record<string, string | null> = {
	sma: 'period', ema: 'period', wma: 'period', rsi: 'period', atr: 'period', adx: 'period',
	bollinger: 'period', supertrend: 'period', stochastic: 'k', macd: null, vwap: null, obv: null
};

export function operand(kind: OperandKind = 'indicator', o: Partial<Operand> = {}): Operand {
	return { kind, indicator: 'ema', period: 14, value: 0, price: 'close', ...o };
}

export function newRule(n: number): Rule {
	return {
		id: `rule-${n}`, action: 'buy', priority: 0, enabled: true,
		conditions: [{ left: operand('indicator', { period: 10 }), op: 'crosses_above', right: operand('indicator', { period: 30 }) }]
	};
}

function operandDoc(o: Operand): Record<string, unknown> {
	if (o.kind === 'value') return { value: Number(o.value) };
	if (o.kind === 'price') return { price: o.price };
	const p = INDICATORS[o.indicator];
	return p ? { indicator: o.indicator, params: { [p]: Number(o.period) } } : { indicator: o.indicator };
}

/** The builder's rules as the service's document. */
export function toDoc(rules: Rule[]): { rules: Record<string, unknown>[] } {
	return {
		rules: rules.map((r) => ({
			id: r.id.trim(), action: r.action, priority: Number(r.priority), enabled: r.enabled,
			when: { all: r.conditions.map((c) => ({ left: operandDoc(c.left), op: c.op, right: operandDoc(c.right) })) }
		}))
	};
}

function operandFrom(x: Record<string, unknown>): Operand {
	if ('value' in x) return operand('value', { value: Number(x.value) });
	if ('price' in x) return operand('price', { price: String(x.price) });
	const name = String(x.indicator);
	const p = INDICATORS[name];
	const params = (x.params ?? {}) as Record<string, unknown>;
	return operand('indicator', { indicator: name, period: p && params[p] !== undefined ? Number(params[p]) : 14 });
}

/** A saved (normalised) document back into the builder; a nested any/group is flattened to
 * its comparisons only when it is a plain `all` (otherwise null: edit it as JSON). */
export function fromDoc(doc: unknown): Rule[] | null {
	const rules = (doc as { rules?: unknown })?.rules;
	if (!Array.isArray(rules)) return null;
	const out: Rule[] = [];
	for (const r of rules as Record<string, unknown>[]) {
		const when = r.when as Record<string, unknown>;
		const list = Array.isArray(when?.all) ? (when.all as Record<string, unknown>[]) : when && 'op' in when ? [when] : null;
		if (!list || list.some((c) => !('op' in c))) return null;
		out.push({
			id: String(r.id), action: String(r.action), priority: Number(r.priority ?? 0), enabled: r.enabled !== false,
			conditions: list.map((c) => ({
				left: operandFrom(c.left as Record<string, unknown>), op: String(c.op), right: operandFrom(c.right as Record<string, unknown>)
			}))
		});
	}
	return out;
}
