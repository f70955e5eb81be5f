"""Candles from ticks: minute bars built from a KiteTicker feed, rolled up to Kite's N-minute
intervals, with every minute the feed did not fully see handed back as a Gap to fill from
Kite's historical API.

Why this shape (research wave2 §a5, issue #11):
* A bar is stamped with its start and lives on the session grid of `mandi.core.calendar`
  (09:15 IST normally, a special session's own spans otherwise), so bars from ticks line up
  with Kite's historical candles and can be replaced by them.
* Volume comes from differences of the cumulative `volume_traded` (the day's first bar against
  0). A bar's volume therefore needs the last tick *before* it: a bar the feed saw only in part
  (it came up mid-bar, or went down during it) cannot be built from ticks at all. Such minutes
  are never emitted as guesses; they become a `Gap`, and history fills them (`fill`), or the
  ingester gives up on them (`give_up`) and the gap itself is reported downstream.
* A consumer must see a token's bars in time order with no silent hole, so per token the bars
  wait behind a pending gap and are released when it is filled or given up.
* Kite's ticks arrive up to ~3 s late: a minute closes on a tick of a later minute or on the
  clock at end + grace. A tick for a closed minute is counted (`late_ticks`), not merged — a
  bar once released is never revised here; history's daily update is the truth.
* N-minute bars are sums of released minute bars, so they are exact whenever their minutes are.
  One that overlaps a gap given up is not emitted (the Gap says why it is missing).

Pure: no IO, no asyncio, no clock of its own — every method takes the time it should act at
(epoch seconds on the exchange/simulated clock). Work per tick batch is a few numpy calls
(group by token and minute); Python runs once per (token, minute) run in the batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime

import numpy as np

from mandi.core.calendar import session
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.core.intervals import parse_interval
from services.marketdata.ticks import TickBatch

MINUTE = 60
DAY = 86400
IST_OFFSET = int(datetime(2000, 1, 1, tzinfo=IST).utcoffset().total_seconds())  # 19800
_ORDINAL_1970 = date(1970, 1, 1).toordinal()

STAT_KEYS = ("ticks", "unstamped_ticks", "late_ticks", "stale_ticks", "outside_session",
             "untracked_ticks",
             "down_ticks", "volume_resets", "volume_unknown", "bars_from_ticks",
             "bars_from_history", "rollups", "rollups_skipped", "gaps", "gaps_filled",
             "gaps_given_up")


@dataclass(frozen=True, slots=True)
class Bar:
    """One candle; prices in the packet's integer units (paise for NSE/BFO/NFO), start in epoch
    seconds. `source` is "ticks" or "history" (a roll-up with any history minute is "history")."""

    token: int
    interval: str
    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    oi: int
    source: str


@dataclass(frozen=True, slots=True)
class Gap:
    """Session minutes [start, end) of one token (epoch seconds, one session day) that the feed
    did not fully see. reason: "start" (tracking began mid-session), "feed_down" (the socket was
    down or stalled), "no_baseline" (the first tick after tracking or a reconnect came later than
    the minute it was expected in, so the volume baseline of the next bars is unknown)."""

    token: int
    start: int
    end: int
    reason: str


def minute_floor(t: float) -> int:
    """Start (epoch seconds) of the minute holding `t` (IST is a whole number of minutes off
    UTC, so minute boundaries agree)."""
    return int(t // MINUTE) * MINUTE


def _day_ordinal(t: float) -> int:
    """Days since 1970-01-01 of the IST date holding `t`."""
    return int((t + IST_OFFSET) // DAY)


class _Day:
    """One session day's grid: which minutes trade, and per step the bar each minute is in."""

    __slots__ = ("_grids", "_session", "close_at", "in_session", "midnight", "open_at")

    def __init__(self, ordinal: int) -> None:
        sess = session(date.fromordinal(ordinal + _ORDINAL_1970))
        assert sess is not None
        self._session = sess
        self.midnight = ordinal * DAY - IST_OFFSET
        self.open_at = self.midnight + sess.open_minute * MINUTE
        self.close_at = self.midnight + sess.close_minute * MINUTE
        self.in_session = np.zeros(1440, dtype=bool)
        for s, e in sess.spans:
            self.in_session[s:e] = True
        self._grids: dict[int, tuple[list[int], list[int]]] = {}

    def bucket(self, start: int, step: int) -> tuple[int, int] | None:
        """(start, end) epoch seconds of the `step`-minute bar holding the minute `start`."""
        grid = self._grids.get(step)
        if grid is None:
            starts, ends = [-1] * 1440, [-1] * 1440
            for s, e in self._session.bars(step):
                for m in range(s, e):
                    starts[m], ends[m] = s, e
            grid = self._grids[step] = (starts, ends)
        mod = (start - self.midnight) // MINUTE
        if not 0 <= mod < 1440 or grid[0][mod] < 0:
            return None
        return self.midnight + grid[0][mod] * MINUTE, self.midnight + grid[1][mod] * MINUTE


class _Forming:
    """The minute bar a token's ticks are going into now."""

    __slots__ = ("base", "close", "full", "high", "low", "oi", "open", "start", "vol")

    def __init__(self, start: int, o: int, h: int, lo: int, c: int, vol: int, oi: int,
                 full: bool, base: int | None) -> None:
        self.start, self.open, self.high, self.low, self.close = start, o, h, lo, c
        self.vol, self.oi, self.full, self.base = vol, oi, full, base


class _Roll:
    """An N-minute bar being summed from released minute bars."""

    __slots__ = ("broken", "close", "end", "high", "history", "low", "oi", "open", "start",
                 "volume")

    def __init__(self, start: int, end: int, bar: Bar, broken: bool) -> None:
        self.start, self.end, self.broken = start, end, broken
        self.open, self.high, self.low, self.close = bar.open, bar.high, bar.low, bar.close
        self.volume, self.oi, self.history = bar.volume, bar.oi, bar.source != "ticks"

    def add(self, bar: Bar) -> None:
        self.high = max(self.high, bar.high)
        self.low = min(self.low, bar.low)
        self.close, self.oi = bar.close, bar.oi
        self.volume += bar.volume
        self.history = self.history or bar.source != "ticks"


class _Pending:
    """A gap in a token's release queue: waiting, filled with history bars, or given up."""

    __slots__ = ("bars", "gap", "given_up")

    def __init__(self, gap: Gap) -> None:
        self.gap = gap
        self.bars: list[Bar] | None = None
        self.given_up = False

    @property
    def resolved(self) -> bool:
        return self.bars is not None or self.given_up


class _Token:
    __slots__ = ("broken_end", "closed", "day", "down_from", "emit_minute", "first_full", "floor",
                 "forming", "last_vol", "oi", "queue", "released", "roll_from", "rolls", "steps",
                 "token", "up_since")

    def __init__(self, token: int, now: float) -> None:
        self.token = token
        self.steps: list[tuple[str, int]] = []  # N-minute intervals, shortest first
        self.emit_minute = False
        self.roll_from: dict[str, int] = {}  # buckets starting earlier are not emitted
        self.up_since: float | None = now  # feed continuously up since; None while down
        self.down_from = 0  # first minute the feed may have missed (while down)
        self.floor = minute_floor(now)  # ticks of earlier minutes predate tracking
        self.first_full = self.floor + MINUTE  # first minute ticks may build
        self.closed = self.floor  # minutes before this are decided; a tick for one is late
        self.released = self.floor  # bars before this have been released
        self.day = -1  # IST day ordinal last_vol belongs to
        self.last_vol: int | None = None  # cumulative volume of the last tick; None: unknown
        self.oi = 0
        self.forming: _Forming | None = None
        self.queue: deque[Bar | _Pending] = deque()
        self.rolls: dict[str, _Roll] = {}
        self.broken_end = 0  # end of the latest gap given up


class CandleBuilder:
    """Ticks → minute bars → N-minute bars for the tracked tokens, with gaps (module doc).

    Every method returns what became releasable, per token in time order: minute bars (when
    "minute" is tracked) and roll-ups (right after the minute that completes them, shorter
    intervals first). Gaps found while ticks arrive (reason "no_baseline") are collected for
    `take_gaps()`; those of track()/feed_up() are returned directly."""

    def __init__(self, grace_s: float = 3.0) -> None:
        self.grace_s = float(grace_s)
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self._tokens: dict[int, _Token] = {}
        self._days: dict[int, _Day | None] = {}
        self._new_gaps: list[Gap] = []

    # --- tracking --------------------------------------------------------------------------
    def track(self, token: int, intervals: Iterable[str], now: float) -> list[Gap]:
        """Build bars of `intervals` for `token` from now on. The feed for the token is taken to
        be up from `now` (subscription under way; call feed_down if it is not). Starting after
        today's open returns the gap from the open to the first minute ticks will build
        completely (the one after `now`). Tracking a token again changes its intervals only;
        an interval added then starts with its first bar that begins after what was released."""
        names = self._intervals(intervals)
        st = self._tokens.get(token)
        if st is not None:
            had = {n for n, _ in st.steps}
            self._set_intervals(st, names)
            for name, _ in st.steps:
                if name not in had:
                    st.roll_from[name] = st.released
            return []
        st = self._tokens[token] = _Token(token, now)
        self._set_intervals(st, names)
        for name, _ in st.steps:
            st.roll_from[name] = 0
        day = self._day(_day_ordinal(now))
        gaps = self._gaps(token, day.open_at, st.first_full, "start") if day else []
        for g in gaps:
            st.queue.append(_Pending(g))
        return gaps

    def untrack(self, token: int) -> None:
        self._tokens.pop(token, None)

    def tracked(self) -> dict[int, tuple[str, ...]]:
        """token -> intervals being built."""
        return {t: (("minute",) if st.emit_minute else ()) + tuple(n for n, _ in st.steps)
                for t, st in self._tokens.items()}

    def pending_gaps(self, token: int) -> list[Gap]:
        """The token's gaps not yet filled or given up, in time order."""
        st = self._tokens.get(token)
        if st is None:
            return []
        return [p.gap for p in st.queue if isinstance(p, _Pending) and not p.resolved]

    def take_gaps(self) -> list[Gap]:
        """Gaps found since the last call while ticks arrived (reason "no_baseline"); each is
        pending like one from feed_up and must be filled or given up."""
        out, self._new_gaps = self._new_gaps, []
        return out

    # --- ticks and clock -------------------------------------------------------------------
    def on_ticks(self, batch: TickBatch) -> list[Bar]:
        """Add a batch (any tokens, arrival order). Ticks are bucketed by exchange timestamp,
        which only full-mode packets carry; a tick without one (an ltp/quote packet, e.g. the
        snapshot Kite sends before a `mode` message lands, with yesterday's cumulative volume)
        cannot be placed in a bar and is counted in stats["unstamped_ticks"]."""
        if not len(batch):
            return []
        self.stats["ticks"] += len(batch)
        stamped = batch.exchange_ts > 0
        if not stamped.all():
            self.stats["unstamped_ticks"] += int(len(batch) - stamped.sum())
            batch = batch.take(stamped)
        n = len(batch)
        if n == 0:
            return []
        ts = batch.exchange_ts
        local = ts + IST_OFFSET
        day = local // DAY
        mod = (local % DAY) // MINUTE
        d0, d1 = int(day.min()), int(day.max())
        if d0 == d1:
            info = self._day(d0)
            keep = info.in_session[mod] if info else np.zeros(n, dtype=bool)
        else:
            keep = np.zeros(n, dtype=bool)
            for d in np.unique(day).tolist():
                info = self._day(d)
                if info is not None:
                    sel = day == d
                    keep[sel] = info.in_session[mod[sel]]
        if not keep.all():
            self.stats["outside_session"] += int(n - keep.sum())
            idx = np.flatnonzero(keep)
            if not len(idx):
                return []
        else:
            idx = None
        token = batch.token if idx is None else batch.token[idx]
        order = np.argsort(token, kind="stable")
        if idx is not None:
            order = idx[order]
        token = batch.token[order]
        bucket = ts[order] - ts[order] % MINUTE
        price = batch.price[order]
        m = len(order)
        brk = np.empty(m, dtype=bool)
        brk[0] = True
        np.not_equal(token[1:], token[:-1], out=brk[1:])
        brk[1:] |= bucket[1:] != bucket[:-1]
        starts = np.flatnonzero(brk)
        ends = np.append(starts[1:], m)
        pos = np.arange(m)
        vol = batch.volume[order]
        oi = batch.oi[order]
        last_vol = np.maximum.reduceat(np.where(vol >= 0, pos, -1), starts)
        last_oi = np.maximum.reduceat(np.where(oi >= 0, pos, -1), starts)
        run_vol = np.where(last_vol >= starts, vol[last_vol], -1)
        run_oi = np.where(last_oi >= starts, oi[last_oi], -1)
        cols = zip(token[starts].tolist(), bucket[starts].tolist(), price[starts].tolist(),
                   np.maximum.reduceat(price, starts).tolist(),
                   np.minimum.reduceat(price, starts).tolist(), price[ends - 1].tolist(),
                   run_vol.tolist(), run_oi.tolist(), (ends - starts).tolist(), strict=True)
        out: list[Bar] = []
        tokens = self._tokens
        stats = self.stats
        touched: dict[int, _Token] = {}
        for tok, b, o, h, lo, c, v, oi_, cnt in cols:
            st = tokens.get(tok)
            if st is None:
                stats["untracked_ticks"] += cnt
                continue
            if st.up_since is None:
                stats["down_ticks"] += cnt
                continue
            if b < st.closed:
                stats["stale_ticks" if b < st.floor else "late_ticks"] += cnt
                continue
            f = st.forming
            if f is not None:
                if b == f.start:
                    if h > f.high:
                        f.high = h
                    if lo < f.low:
                        f.low = lo
                    f.close = c
                    if v >= 0:
                        f.vol = v
                    if oi_ >= 0:
                        f.oi = oi_
                    continue
                self._close(st)
            self._open(st, b, o, h, lo, c, v, oi_)
            touched[tok] = st
        for st in touched.values():
            self._release(st, out)
        return out

    def on_clock(self, now: float) -> list[Bar]:
        """Close the minute bars whose end + grace <= now; minutes up to there without ticks
        are empty (no bar). Releases what that makes releasable."""
        cutoff = minute_floor(now - self.grace_s)
        out: list[Bar] = []
        for st in self._tokens.values():
            if st.up_since is None:
                continue
            f = st.forming
            if f is not None and f.start + MINUTE <= cutoff:
                self._close(st)
                f = None
            if f is None and st.closed < cutoff:
                limit = cutoff
                if st.last_vol is None:  # no baseline yet: later minutes are unknown, unless
                    limit = min(cutoff, max(st.first_full, st.closed))  # a new day began
                    day = self._day(_day_ordinal(cutoff - 1))
                    if day is not None and st.up_since <= day.open_at < cutoff \
                            and _day_ordinal(cutoff - 1) != st.day:
                        st.day, st.last_vol, limit = _day_ordinal(cutoff - 1), 0, cutoff
                st.closed = max(st.closed, limit)
            if st.closed > st.released or st.queue:
                self._release(st, out)
        return out

    # --- feed state ------------------------------------------------------------------------
    def feed_down(self, tokens: Iterable[int], at: float) -> None:
        """The feed for `tokens` stopped (socket closed or stalled) at `at` — best the time of
        the last data received. The forming bar and every minute from it are lost to ticks."""
        for tok in tokens:
            st = self._tokens.get(tok)
            if st is None or st.up_since is None:
                continue
            f = st.forming
            start = max(st.closed, f.start if f is not None else minute_floor(at))
            st.forming = None
            st.closed = st.down_from = start
            st.up_since, st.last_vol = None, None

    def feed_up(self, tokens: Iterable[int], at: float) -> list[Gap]:
        """The feed for `tokens` is back at `at`: returns the gaps from where it went down to the
        first minute after `at` (clipped to sessions, one per day). No-op for a token that is
        not down."""
        gaps: list[Gap] = []
        for tok in tokens:
            st = self._tokens.get(tok)
            if st is None or st.up_since is not None:
                continue
            st.up_since, st.last_vol = at, None
            st.first_full = minute_floor(at) + MINUTE
            mine = self._gaps(tok, st.down_from, st.first_full, "feed_down")
            for g in mine:
                st.queue.append(_Pending(g))
            gaps.extend(mine)
        return gaps

    # --- gaps resolved ---------------------------------------------------------------------
    def fill(self, token: int, bars: list[Bar], gap: Gap | None = None) -> list[Bar]:
        """Minute bars from history for the token's pending gap(s): `gap` when given (a gap
        history has no candles for is resolved with `bars=[]`), else every pending gap the bars
        fall in. Bars outside the gap are ignored; a minute history lacks had no trades. The
        gap's bars and the bars waiting behind it are released (source "history")."""
        st = self._tokens.get(token)
        if st is None:
            return []
        pend = [p for p in st.queue if isinstance(p, _Pending) and not p.resolved]
        if gap is not None:
            targets = [p for p in pend if p.gap == gap]
        else:
            starts = {b.start for b in bars}
            targets = [p for p in pend if any(p.gap.start <= s < p.gap.end for s in starts)]
        for p in targets:
            mine: dict[int, Bar] = {}
            for b in bars:
                if b.interval == "minute" and p.gap.start <= b.start < p.gap.end:
                    mine[b.start] = b if (b.source == "history" and b.token == token) else \
                        replace(b, token=token, source="history")
            p.bars = [mine[s] for s in sorted(mine)]
            self.stats["bars_from_history"] += len(p.bars)
            self.stats["gaps_filled"] += 1
        out: list[Bar] = []
        if targets:
            self._release(st, out)
        return out

    def give_up(self, gap: Gap) -> list[Bar | Gap]:
        """The gap cannot be filled: returns it (in its place in time) and the bars waiting
        behind it. Roll-ups overlapping it are not emitted."""
        st = self._tokens.get(gap.token)
        if st is None:
            return []
        found = False
        for p in st.queue:
            if isinstance(p, _Pending) and not p.resolved and p.gap == gap:
                p.given_up, found = True, True
                self.stats["gaps_given_up"] += 1
        out: list[Bar | Gap] = []
        if found:
            self._release(st, out)
        return out

    # --- internals -------------------------------------------------------------------------
    def _day(self, ordinal: int) -> _Day | None:
        try:
            return self._days[ordinal]
        except KeyError:
            d = date.fromordinal(ordinal + _ORDINAL_1970)
            info = self._days[ordinal] = _Day(ordinal) if session(d) is not None else None
            return info

    @staticmethod
    def _intervals(intervals: Iterable[str]) -> list[str]:
        if isinstance(intervals, str):
            intervals = [intervals]
        names = []
        for name in intervals:
            iv = parse_interval(name, field="intervals")
            if not iv.is_intraday:
                raise InvalidInput("candles from ticks are intraday only; 'day' comes from "
                                   "history", field="intervals")
            if iv.name not in names:
                names.append(iv.name)
        return names

    @staticmethod
    def _steps(names: list[str]) -> list[tuple[str, int]]:
        return sorted(((n, parse_interval(n).minutes) for n in names if n != "minute"),
                      key=lambda x: x[1])

    def _set_intervals(self, st: _Token, names: list[str]) -> None:
        st.emit_minute = "minute" in names
        st.steps = self._steps(names)
        keep = {n for n, _ in st.steps}
        for name in [n for n in st.rolls if n not in keep]:
            del st.rolls[name]
        for name in [n for n in st.roll_from if n not in keep]:
            del st.roll_from[name]

    def _gaps(self, token: int, start: int, end: int, reason: str) -> list[Gap]:
        """[start, end) cut to session minutes, one Gap per session day."""
        out: list[Gap] = []
        if end <= start:
            return out
        for d in range(_day_ordinal(start), _day_ordinal(end - 1) + 1):
            info = self._day(d)
            if info is None:
                continue
            a = max(start, info.open_at)
            b = min(end, info.close_at)
            if a >= b:
                continue
            mins = np.flatnonzero(info.in_session[(a - info.midnight) // MINUTE:
                                                  (b - info.midnight) // MINUTE])
            if not len(mins):
                continue
            first = a + int(mins[0]) * MINUTE
            last = a + int(mins[-1]) * MINUTE + MINUTE
            out.append(Gap(token, first, last, reason))
        self.stats["gaps"] += len(out)
        return out

    def _open(self, st: _Token, b: int, o: int, h: int, lo: int, c: int, v: int,
              oi: int) -> None:
        d = _day_ordinal(b)
        if d != st.day:  # volume_traded restarts each day
            st.day = d
            info = self._day(d)
            st.last_vol = 0 if (info is not None and st.up_since is not None
                                and st.up_since <= info.open_at) else None
        full = b >= st.first_full
        if full and st.last_vol is None and v >= 0:
            # first tick since tracking/reconnect came after the minute it was expected in
            # (ticks without volume — indices, LTP mode — need no baseline: volume 0)
            gaps = self._gaps(st.token, max(st.closed, st.first_full), b + MINUTE,
                              "no_baseline")
            for g in gaps:
                st.queue.append(_Pending(g))
            self._new_gaps.extend(gaps)
            st.first_full = b + MINUTE
            full = False
        st.closed = max(st.closed, b)
        st.forming = _Forming(b, o, h, lo, c, v, oi, full, st.last_vol)

    def _close(self, st: _Token) -> None:
        f = st.forming
        assert f is not None
        st.forming = None
        st.closed = max(st.closed, f.start + MINUTE)
        if f.oi >= 0:
            st.oi = f.oi
        if f.full:
            if f.vol < 0:
                volume = 0
            elif f.base is None:  # volume appeared mid-bar (mode changed): not knowable
                volume = 0
                self.stats["volume_unknown"] += 1
            else:
                volume = f.vol - f.base
                if volume < 0:
                    volume = 0
                    self.stats["volume_resets"] += 1
            st.queue.append(Bar(st.token, "minute", f.start, f.open, f.high, f.low, f.close,
                                volume, st.oi, "ticks"))
            self.stats["bars_from_ticks"] += 1
        if f.vol >= 0:
            st.last_vol = f.vol

    def _release(self, st: _Token, out: list) -> None:
        q = st.queue
        while q:
            item = q[0]
            if isinstance(item, Bar):
                q.popleft()
                self._release_minute(st, item, out)
                continue
            if not item.resolved:
                break
            q.popleft()
            g = item.gap
            if item.given_up:
                self._roll_advance(st, g.start, out)
                for acc in st.rolls.values():
                    acc.broken = True  # still open here means it overlaps the gap
                st.broken_end = max(st.broken_end, g.end)
                out.append(g)
            else:
                for bar in item.bars:
                    self._release_minute(st, bar, out)
            self._roll_advance(st, g.end, out)
            st.released = max(st.released, g.end)
        frontier = q[0].gap.start if q else st.closed  # type: ignore[union-attr]
        st.released = max(st.released, frontier)
        self._roll_advance(st, frontier, out)

    def _release_minute(self, st: _Token, bar: Bar, out: list) -> None:
        self._roll_advance(st, bar.start, out)
        st.released = max(st.released, bar.start + MINUTE)
        if st.emit_minute:
            out.append(bar)
        if not st.steps:
            return
        info = self._day(_day_ordinal(bar.start))
        for name, step in st.steps:
            acc = st.rolls.get(name)
            if acc is not None:
                acc.add(bar)
                continue
            span = info.bucket(bar.start, step) if info is not None else None
            if span is None:
                continue
            broken = span[0] < max(st.broken_end, st.roll_from.get(name, 0))
            st.rolls[name] = _Roll(span[0], span[1], bar, broken)

    def _roll_advance(self, st: _Token, t: int, out: list) -> None:
        if not st.rolls:
            return
        for name, _ in st.steps:
            acc = st.rolls.get(name)
            if acc is None or acc.end > t:
                continue
            del st.rolls[name]
            if acc.broken:
                self.stats["rollups_skipped"] += 1
                continue
            out.append(Bar(st.token, name, acc.start, acc.open, acc.high, acc.low, acc.close,
                           acc.volume, acc.oi, "history" if acc.history else "ticks"))
            self.stats["rollups"] += 1
