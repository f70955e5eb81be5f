import { describe, expect, it } from 'vitest';
import { emptyInbox, markRead, reduceInbox } from './notifications';

const msg = (type: string, data: unknown) => ({ channel: 'notifications', type, seq: 1, data });
const note = (id: number, read = false) => ({ id, kind: 'order_filled', text: `n${id}`, created_at: '2026-03-04T04:00:00Z', read });

describe('inbox', () => {
	it('takes the snapshot, then prepends new notifications once', () => {
		let s = reduceInbox(emptyInbox, msg('snapshot', { items: [note(1, true)], unread: 0, total: 1 }));
		s = reduceInbox(s, msg('notification', note(2)));
		s = reduceInbox(s, msg('notification', note(2)));
		expect(s.items.map((n) => n.id)).toEqual([2, 1]);
		expect([s.unread, s.total]).toEqual([1, 2]);
	});
	it('marks one or all read', () => {
		const s = reduceInbox(emptyInbox, msg('snapshot', { items: [note(3), note(2), note(1, true)], unread: 2, total: 3 }));
		expect(markRead(s, [2]).unread).toBe(1);
		expect(markRead(s, [1]).unread).toBe(2); // already read
		const all = markRead(s, null);
		expect(all.unread).toBe(0);
		expect(all.items.every((n) => n.read)).toBe(true);
	});
});
