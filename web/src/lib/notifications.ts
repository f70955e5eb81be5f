/** The signed-in user's notifications, live: the layout feeds /ws/notifications into `inbox`
 * (the nav's unread count and the /notifications page read it). */
import { writable } from 'svelte/store';
import type { WsMessage } from './live';

export interface Note {
	id: number;
	kind: string;
	text: string;
	created_at: string;
	read: boolean;
}
export interface Inbox {
	items: Note[];
	unread: number;
	total: number;
}

export const emptyInbox: Inbox = { items: [], unread: 0, total: 0 };

export function reduceInbox(state: Inbox, msg: WsMessage): Inbox {
	if (msg.type === 'snapshot') {
		const d = msg.data as Partial<Inbox>;
		return { items: d.items ?? [], unread: d.unread ?? 0, total: d.total ?? 0 };
	}
	if (msg.type !== 'notification') return state;
	const n = msg.data as Note;
	if (state.items.some((x) => x.id === n.id)) return state;
	return { items: [n, ...state.items], unread: state.unread + (n.read ? 0 : 1), total: state.total + 1 };
}

/** After marking read over REST: `ids` read, or all when null. */
export function markRead(state: Inbox, ids: number[] | null): Inbox {
	const hit = (n: Note) => ids === null || ids.includes(n.id);
	const newly = state.items.filter((n) => !n.read && hit(n)).length;
	return {
		...state,
		items: state.items.map((n) => (hit(n) ? { ...n, read: true } : n)),
		unread: ids === null ? 0 : Math.max(0, state.unread - newly)
	};
}

export const inbox = writable<Inbox>(emptyInbox);
