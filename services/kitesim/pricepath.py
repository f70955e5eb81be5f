"""The seeded price process: every price is a pure function of (seed, instrument, second).

One table of standard normals (and its prefix sums) is drawn from the seed once. An instrument's
path reads slices of it at offsets hashed from (seed, token, day), so any day, minute or second
can be computed on its own, in any order, without replaying history:

* daily level: a random walk of log closes over all trading days 2015–2027, anchored so the
  universe's listed prices hold on ANCHOR_DAY; each open gaps away from the previous close;
* intraday: a Brownian bridge from open to close over the session's minutes (375 on a normal
  day, fewer in a Muhurat or DR session — `mandi.core.calendar.session`), then a second bridge
  inside each minute, giving 22,500 one-second prices (09:15:00 .. 15:29:59) on a normal day;
* volume: one trade per second with a U-shaped intraday profile; OI grows with volume;
* futures = spot·e^{rT}; options = Black-Scholes on the index with a fixed volatility.

Prices are integer paise rounded to the tick. Minute candles are exact aggregates of the
seconds, and the ticker plays the same seconds, so candles built from ticks equal historical
candles. Indices have no volume.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from mandi.core.calendar import LAST_YEAR, session, session_open, trading_days
from services.kitesim.universe import HISTORY_START, Instrument

N_NOISE = 1 << 21
SESSION_MINUTES = 375
SECONDS_PER_DAY = SESSION_MINUTES * 60
ANCHOR_DAY = date(2025, 11, 3)
RATE = 0.065
OPTION_VOL = {"NIFTY": 0.13, "BANKNIFTY": 0.15, "SENSEX": 0.13}
_YEAR_S = 365.0 * 86400.0
_K = np.arange(60, dtype=np.float64)


@dataclass(frozen=True)
class Bars:
    """One day of one-minute bars (paise and units), one row per session minute."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    pv: np.ndarray  # sum(price * qty) per minute, for VWAP
    oi: np.ndarray  # open interest at the minute's last second


@dataclass(frozen=True)
class Seconds:
    """Per-second price, traded quantity and OI for a run of whole minutes (shape (M, 60))."""

    price: np.ndarray
    qty: np.ndarray
    oi: np.ndarray


class PriceModel:
    def __init__(self, seed: int, sources: dict[int, Instrument]) -> None:
        """`sources`: the EQ/INDEX instruments (by token) whose paths drive everything."""
        self.seed = seed
        self.sources = sources
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6B697465]))
        self._z = rng.standard_normal(N_NOISE)
        self._cz = np.concatenate(([0.0], np.cumsum(self._z)))
        days = trading_days(HISTORY_START, date(LAST_YEAR, 12, 31))
        self.days = days
        self._day_ix = {d: i for i, d in enumerate(days)}
        self._anchor_ix = self._day_ix[ANCHOR_DAY]
        self.bars = lru_cache(maxsize=8192)(self._bars)
        self._src_log = lru_cache(maxsize=256)(self._src_log_uncached)
        self._levels = lru_cache(maxsize=None)(self._levels_uncached)

    # --- noise addressing ------------------------------------------------------------------
    def _off(self, token: int, key: str, span: int) -> int:
        h = hashlib.blake2b(f"{self.seed}:{token}:{key}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "big") % (N_NOISE - span - 1)

    def is_day(self, day: date) -> bool:
        return day in self._day_ix

    @staticmethod
    def minutes(day: date) -> int:
        """Session minutes of `day` (375 on a normal day)."""
        s = session(day)
        return s.minutes if s is not None else SESSION_MINUTES

    # --- daily levels ----------------------------------------------------------------------
    def _levels_uncached(self, src: int) -> tuple[np.ndarray, np.ndarray]:
        inst = self.sources[src]
        n = len(self.days)
        z = self._z
        o1, o2 = self._off(src, "daily", n), self._off(src, "gap", n)
        ret = 0.0003 + inst.sigma * z[o1:o1 + n]
        logc = np.cumsum(ret)
        logc += np.log(inst.base_paise / 100.0) - logc[self._anchor_ix]
        gap = 0.3 * inst.sigma * z[o2:o2 + n]
        logo = np.empty(n)
        logo[0] = logc[0] - ret[0] + gap[0]
        logo[1:] = logc[:-1] + gap[1:]
        return logo, logc

    def _src_log_uncached(self, src: int, day: date) -> np.ndarray:
        """Log-price (rupees) of a source at each second of `day`, shape (minutes, 60)."""
        i = self._day_ix[day]
        n_min = self.minutes(day)
        logo, logc = self._levels(src)
        o, c = logo[i], logc[i]
        sigma = self.sources[src].sigma
        cz = self._cz
        oa = self._off(src, f"{day}:m", SESSION_MINUTES + 1)
        ob = self._off(src, f"{day}:s", SECONDS_PER_DAY + 1)
        m = np.arange(n_min + 1, dtype=np.float64)
        wa = cz[oa:oa + n_min + 1] - cz[oa]
        sm = 0.8 * sigma / np.sqrt(n_min)
        lvl = o + (c - o) * m / n_min + sm * (wa - m / n_min * wa[-1])
        base = ob + 60 * np.arange(n_min)
        v = cz[base[:, None] + np.arange(61)[None, :]] - cz[base][:, None]
        ss = 0.8 * sm / np.sqrt(60.0)
        frac = _K / 60.0
        return (lvl[:-1, None] + (lvl[1:] - lvl[:-1])[:, None] * frac
                + ss * (v[:, :60] - frac * v[:, 60:61]))

    # --- per-instrument seconds ------------------------------------------------------------
    def seconds(self, inst: Instrument, day: date, m0: int = 0, m1: int | None = None,
                lots_before: int | None = None, price_only: bool = False) -> Seconds:
        """Seconds of minutes [m0, m1) of `day` for `inst` (elementwise: any slice agrees).

        `lots_before` (lots traded before minute m0, if the caller knows) saves recomputing it
        for OI; `price_only` skips volume and OI. `m1` defaults to the session's end."""
        if m1 is None:
            m1 = self.minutes(day)
        x = self._src_log(inst.source, day)[m0:m1]
        tick = inst.tick
        if inst.kind in ("EQ", "INDEX"):
            price = np.rint(np.exp(x) * (100.0 / tick)).astype(np.int64) * tick
        else:
            t = (session_open(day).timestamp() + 60.0 * np.arange(m0, m1)[:, None] + _K)
            expiry_close = session_open(inst.expiry).timestamp() + 22500.0
            tau = np.maximum(expiry_close - t, 60.0) / _YEAR_S
            if inst.kind == "FUT":
                rupees = np.exp(x + RATE * tau)
            else:
                rupees = _black_scholes(np.exp(x), inst.strike / 100.0, tau,
                                        OPTION_VOL.get(inst.name, 0.15), inst.instrument_type)
            price = np.maximum(np.rint(rupees * (100.0 / tick)).astype(np.int64), 1) * tick
        if inst.kind == "INDEX" or price_only:
            zero = np.zeros_like(price)
            return Seconds(price, zero, zero)
        lots = self.lots(inst, day, m0, m1)
        qty = lots * inst.lot_size
        if inst.kind in ("FUT", "OPT"):
            base_lots = 2000 + self._off(inst.token, "oi", 0) % 40000
            before = lots_before if lots_before is not None else (
                int(self.lots(inst, day, 0, m0).sum()) if m0 else 0)
            oi = (base_lots + (before + np.cumsum(lots.ravel()).reshape(lots.shape)) // 20) \
                * inst.lot_size
        else:
            oi = np.zeros_like(qty)
        return Seconds(price, qty, oi)

    def lots(self, inst: Instrument, day: date, m0: int, m1: int) -> np.ndarray:
        """Lots traded in each second of minutes [m0, m1): at least one trade every second."""
        oc = self._off(inst.token, f"{day}:v", SECONDS_PER_DAY)
        idx = oc + 60 * np.arange(m0, m1)[:, None] + np.arange(60)[None, :]
        return np.floor(inst.volume_per_sec * _PROFILE[m0:m1, None]
                        * (0.2 + np.abs(self._z[idx]))).astype(np.int64) + 1

    def _bars(self, inst: Instrument, day: date) -> Bars:
        s = self.seconds(inst, day)
        p = s.price
        return Bars(p[:, 0].copy(), p.max(axis=1), p.min(axis=1), p[:, -1].copy(),
                    s.qty.sum(axis=1), (p * s.qty).sum(axis=1), s.oi[:, -1].copy())

    def prev_close(self, inst: Instrument, day: date) -> int:
        """Close (paise) of the trading day before `day` (its last second, computed alone)."""
        i = self._day_ix.get(day)
        if i is None or i == 0:
            return 0
        prev = self.days[i - 1]
        n_min = self.minutes(prev)
        return int(self.seconds(inst, prev, n_min - 1, n_min, price_only=True).price[0, -1])


_m = np.arange(SESSION_MINUTES, dtype=np.float64)
_PROFILE = 0.6 + 1.6 * ((_m - 187.0) / 187.0) ** 2


def _ncdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                                                      + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def _black_scholes(spot: np.ndarray, strike: float, tau: np.ndarray, vol: float,
                   kind: str) -> np.ndarray:
    sq = vol * np.sqrt(tau)
    d1 = (np.log(spot / strike) + (RATE + 0.5 * vol * vol) * tau) / sq
    d2 = d1 - sq
    disc = strike * np.exp(-RATE * tau)
    if kind == "CE":
        return spot * _ncdf(d1) - disc * _ncdf(d2)
    return disc * _ncdf(-d2) - spot * _ncdf(-d1)


def batch_seconds(model: PriceModel, insts: list[Instrument], day: date, m0: int, m1: int,
                  lots_before: np.ndarray | None = None, price_only: bool = False) -> Seconds:
    """`PriceModel.seconds` for many instruments at once, arrays of shape (n, M, 60).

    The same elementwise expressions as the one-instrument path, so the values agree; used by
    the ticker, which needs one minute of thousands of instruments at a time."""
    n = len(insts)
    srcs = sorted({i.source for i in insts})
    pos = {s: j for j, s in enumerate(srcs)}
    xs = np.stack([model._src_log(s, day)[m0:m1] for s in srcs])
    x = xs[np.array([pos[i.source] for i in insts])]
    tick = np.array([i.tick for i in insts], dtype=np.int64)[:, None, None]
    kind = np.array([i.kind for i in insts])
    price = np.empty(x.shape, dtype=np.int64)
    plain = (kind == "EQ") | (kind == "INDEX")
    if plain.any():
        price[plain] = np.rint(np.exp(x[plain]) * (100.0 / tick[plain])).astype(np.int64) \
            * tick[plain]
    deriv = ~plain
    if deriv.any():
        d_insts = [i for i, d in zip(insts, deriv, strict=True) if d]
        t = (session_open(day).timestamp() + 60.0 * np.arange(m0, m1)[:, None] + _K)
        exp_close = np.array([session_open(i.expiry).timestamp() + 22500.0 for i in d_insts])
        tau = np.maximum(exp_close[:, None, None] - t[None], 60.0) / _YEAR_S
        xd = x[deriv]
        fut = np.array([i.kind == "FUT" for i in d_insts])
        rupees = np.empty(xd.shape)
        if fut.any():
            rupees[fut] = np.exp(xd[fut] + RATE * tau[fut])
        opt = ~fut
        if opt.any():
            o_insts = [i for i, f in zip(d_insts, fut, strict=True) if not f]
            strike = np.array([i.strike / 100.0 for i in o_insts])[:, None, None]
            vol = np.array([OPTION_VOL.get(i.name, 0.15) for i in o_insts])[:, None, None]
            call = np.array([i.instrument_type == "CE" for i in o_insts])
            spot, tau_o = np.exp(xd[opt]), tau[opt]
            out = np.empty(spot.shape)
            for flag, typ in ((call, "CE"), (~call, "PE")):
                if flag.any():
                    out[flag] = _black_scholes(spot[flag], strike[flag], tau_o[flag],
                                               vol[flag], typ)
            rupees[opt] = out
        td = tick[deriv]
        price[deriv] = np.maximum(np.rint(rupees * (100.0 / td)).astype(np.int64), 1) * td
    zero = np.zeros_like(price)
    if price_only:
        return Seconds(price, zero, zero)
    traded = ~(kind == "INDEX")
    qty, oi = zero.copy(), zero.copy()
    if traded.any():
        t_insts = [i for i, f in zip(insts, traded, strict=True) if f]
        lots = _batch_lots(model, t_insts, day, m0, m1)
        lot = np.array([i.lot_size for i in t_insts], dtype=np.int64)[:, None, None]
        qty[traded] = lots * lot
        is_d = np.array([i.kind in ("FUT", "OPT") for i in t_insts])
        if is_d.any():
            d_insts = [i for i, f in zip(t_insts, is_d, strict=True) if f]
            base = np.array([2000 + model._off(i.token, "oi", 0) % 40000 for i in d_insts])
            if lots_before is None:
                before = np.zeros(len(d_insts), dtype=np.int64)
                if m0:
                    before = _batch_lots(model, d_insts, day, 0, m0).reshape(
                        len(d_insts), -1).sum(axis=1)
            else:
                before = lots_before[traded][is_d]
            dl = lots[is_d]
            cum = np.cumsum(dl.reshape(len(d_insts), -1), axis=1).reshape(dl.shape)
            sub = oi[traded]
            sub[is_d] = (base[:, None, None] + (before[:, None, None] + cum) // 20) * lot[is_d]
            oi[traded] = sub
    del n
    return Seconds(price, qty, oi)


def _batch_lots(model: PriceModel, insts: list[Instrument], day: date, m0: int,
                m1: int) -> np.ndarray:
    oc = np.array([model._off(i.token, f"{day}:v", SECONDS_PER_DAY) for i in insts])
    idx = oc[:, None, None] + 60 * np.arange(m0, m1)[None, :, None] + np.arange(60)[None, None, :]
    vps = np.array([i.volume_per_sec for i in insts])[:, None, None]
    return np.floor(vps * _PROFILE[None, m0:m1, None]
                    * (0.2 + np.abs(model._z[idx]))).astype(np.int64) + 1
