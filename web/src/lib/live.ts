/** Live channels (/ws/*): every frame is {"channel","type","seq","data"}, a `snapshot` first.
 * `openChannel` keeps one socket open (reconnecting with `?since=` after a drop, backing off
 * to 5 s) and hands each message to `onMessage`; the reducers below turn messages into the
 * lists the pages show and are pure, so the unit tests check them without a socket. */
import { writable, type Readable } from 'svelte/store';
import { unauthorized } from './api/client';

export interface WsMessage<T = unknown> {
	channel: string;
	type: string;
	seq: number;
	data: T;
}

export interface Order {
	order_id: string;
	status: string;
	filled_quantity?: number;
	average_price?: number | string | null;
	message?: string;
	[field: string]: unknown;
}

export interface OrdersState {
	orders: Order[];
	/** an event named an order the list does not have: re-read the list over REST */
	stale: boolean;
}

export function reduceOrders(state: OrdersState, msg: WsMessage): OrdersState {
	if (msg.type === 'snapshot') {
		return { orders: ((msg.data as { orders?: Order[] }).orders ?? []).slice(), stale: false };
	}
	if (msg.type !== 'order') return state;
	const ev = msg.data as Order;
	const i = state.orders.findIndex((o) => o.order_id === ev.order_id);
	if (i < 0) return { ...state, stale: true };
	const merged: Order = { ...state.orders[i], status: ev.status };
	for (const k of ['filled_quantity', 'average_price', 'message'] as const) {
		if (ev[k] !== undefined && ev[k] !== '' && ev[k] !== null) merged[k] = ev[k] as never;
	}
	const orders = state.orders.slice();
	orders[i] = merged;
	return { ...state, orders };
}

/** A list read over REST, then the events that arrived while it was being read applied on
 * top (each carries its order's whole status, so the last one wins); an order the list still
 * lacks is left for the next read instead of asking for one again. */
export function replayOrders(orders: Order[], events: WsMessage[]): OrdersState {
	let state: OrdersState = { orders, stale: false };
	for (const m of events) if (m.type === 'order') state = reduceOrders(state, m);
	return { ...state, stale: false };
}

export interface LogRecord {
	id: number | string;
	ts: string;
	level: string;
	event: string;
	message: string;
}

/** Log records by id (a stream's first record may repeat the snapshot's newest), oldest first,
 * the newest `keep`. */
export function mergeLogs(have: LogRecord[], add: LogRecord[], keep = 200): LogRecord[] {
	const seen = new Set(have.map((r) => String(r.id)));
	const out = have.slice();
	for (const r of add) {
		if (r && r.id !== undefined && !seen.has(String(r.id))) {
			seen.add(String(r.id));
			out.push(r);
		}
	}
	return out.slice(-keep);
}

export function reducePositions<P>(state: P[], msg: WsMessage): P[] {
	if (msg.type === 'snapshot' || msg.type === 'positions') {
		return ((msg.data as { positions?: P[] }).positions ?? []).slice();
	}
	return state;
}

export interface Channel {
	connected: Readable<boolean>;
	close(): void;
}

export function wsUrl(path: string, query: Record<string, string | number> = {}): string {
	const loc = globalThis.location;
	const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
	const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
	const qs = q.toString();
	return `${proto}//${loc.host}${path}${qs ? '?' + qs : ''}`;
}

/** Close codes after which reconnecting cannot help (bad input, 401/403/404 equivalents). */
const FINAL = new Set([4400, 4401, 4403, 4404]);

export function openChannel(path: string, query: Record<string, string | number>,
	onMessage: (m: WsMessage) => void, onFinal?: (code: number, reason: string) => void): Channel {
	const connected = writable(false);
	let socket: WebSocket | null = null;
	let closed = false;
	let since: number | null = null;
	let delay = 250;
	let timer: ReturnType<typeof setTimeout> | null = null;

	const connect = () => {
		if (closed) return;
		const q = since === null ? query : { ...query, since };
		socket = new WebSocket(wsUrl(path, q));
		socket.onopen = () => {
			connected.set(true);
			delay = 250;
		};
		socket.onmessage = (ev) => {
			let msg: WsMessage;
			try {
				msg = JSON.parse(String(ev.data));
			} catch {
				return;
			}
			if (closed || msg.type === 'ping') return;
			if (typeof msg.seq === 'number') since = msg.seq;
			onMessage(msg);
		};
		socket.onclose = (ev) => {
			connected.set(false);
			socket = null;
			if (closed) return;
			if (FINAL.has(ev.code)) {
				if (ev.code === 4401) unauthorized(); // the session ended: to the sign-in
				onFinal?.(ev.code, ev.reason);
				return;
			}
			timer = setTimeout(connect, delay);
			delay = Math.min(delay * 2, 5000);
		};
	};
	connect();
	return {
		connected: { subscribe: connected.subscribe },
		close() {
			closed = true;
			if (timer) clearTimeout(timer);
			const s = socket;
			if (!s) return;
			// closing a socket still connecting makes the browser log an error: close it once open
			if (s.readyState === WebSocket.CONNECTING) s.onopen = () => s.close(1000);
			else s.close(1000);
		}
	};
}

/** Live last prices for a changing set of instruments: one /ws/market/{EXCHANGE:SYMBOL} socket
 * per instrument wanted, closed when it no longer is. */
export class LtpFeed {
	private channels = new Map<string, Channel>();
	constructor(private readonly onPrice: (key: string, price: number) => void) {}

	want(keys: Iterable<string>): void {
		const wanted = new Set(keys);
		for (const [key, ch] of this.channels) {
			if (!wanted.has(key)) {
				ch.close();
				this.channels.delete(key);
			}
		}
		for (const key of wanted) {
			if (this.channels.has(key)) continue;
			this.channels.set(key, openChannel(`/ws/market/${encodeURIComponent(key)}`, {}, (m) => {
				const price = (m.data as { last_price?: number | null }).last_price;
				if (typeof price === 'number' && price > 0) this.onPrice(key, price);
			}));
		}
	}

	close(): void {
		this.want([]);
	}
}
