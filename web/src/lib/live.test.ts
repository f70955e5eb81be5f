import { describe, expect, it } from 'vitest';
import { mergeLogs, reduceOrders, reducePositions, replayOrders, type OrdersState, type WsMessage } from './live';

const msg = (type: string, data: unknown, seq = 1): WsMessage => ({ channel: 'orders', type, seq, data });

describe('orders reducer', () => {
	const snap = reduceOrders({ orders: [], stale: false }, msg('snapshot', {
		orders: [{ order_id: 'A', status: 'OPEN', symbol: 'INFY', filled_quantity: 0 }]
	}));
	it('takes the snapshot whole', () => {
		expect(snap.orders.map((o) => o.order_id)).toEqual(['A']);
		expect(snap.stale).toBe(false);
	});
	it('merges an event into its order and keeps the fields the event lacks', () => {
		const next = reduceOrders(snap, msg('order', {
			order_id: 'A', status: 'COMPLETE', filled_quantity: 5, average_price: 1500.5, message: ''
		}, 2));
		expect(next.orders[0]).toMatchObject({ status: 'COMPLETE', filled_quantity: 5, average_price: 1500.5, symbol: 'INFY' });
		expect(snap.orders[0].status).toBe('OPEN'); // the old state is not changed
	});
	it('marks the list stale on an order it does not know', () => {
		const next: OrdersState = reduceOrders(snap, msg('order', { order_id: 'B', status: 'OPEN' }));
		expect(next.stale).toBe(true);
		expect(next.orders).toHaveLength(1);
	});
});

describe('orders read while events arrive', () => {
	it('applies the events received during the read on top of it, the last one winning', () => {
		const read = [{ order_id: 'A', status: 'OPEN', filled_quantity: 0 }];
		const events = [msg('order', { order_id: 'A', status: 'OPEN' }, 1),
			msg('order', { order_id: 'A', status: 'COMPLETE', filled_quantity: 5 }, 2),
			msg('order', { order_id: 'Z', status: 'OPEN' }, 3)];
		const s = replayOrders(read, events);
		expect(s.orders).toHaveLength(1);
		expect(s.orders[0]).toMatchObject({ status: 'COMPLETE', filled_quantity: 5 });
		expect(s.stale).toBe(false);
	});
});

describe('positions reducer', () => {
	it('replaces the list on a snapshot or a positions message and ignores the rest', () => {
		const a = reducePositions([], msg('snapshot', { positions: [{ symbol: 'INFY' }] }));
		expect(a).toEqual([{ symbol: 'INFY' }]);
		const b = reducePositions(a, msg('positions', { positions: [] }));
		expect(b).toEqual([]);
		expect(reducePositions(a, msg('other', {}))).toBe(a);
	});
});

describe('bot log', () => {
	const rec = (id: number) => ({ id, ts: '2026-03-04T04:00:00Z', level: 'INFO', event: 'bar', message: `m${id}` });
	it('drops a record it already has and keeps the newest', () => {
		const a = mergeLogs([], [rec(1), rec(2)]);
		expect(mergeLogs(a, [rec(2), rec(3)]).map((r) => r.id)).toEqual([1, 2, 3]);
		expect(mergeLogs(a, [rec(3), rec(4)], 2).map((r) => r.id)).toEqual([3, 4]);
	});
});
