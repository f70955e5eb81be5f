"""Incremental (streaming) indicators for live use.

Each class repeats, step for step and in the same floating-point order, the loop of its batch
twin, so `update()` over a series returns exactly the batch array (the tests assert equality, not
closeness). `update()` returns NaN (or a tuple of NaNs) until the indicator is warm.
"""

from __future__ import annotations

import math
from collections import deque

from mandi.core.errors import InvalidInput
from mandi.core.indicators.moving import check_period
from mandi.core.indicators.volume import DAY_NS, IST_OFFSET_NS

NAN = math.nan


class SMA:
    __slots__ = ("_buf", "_i", "_s", "n")

    def __init__(self, period: int) -> None:
        self.n = check_period(period)
        self._buf: deque[float] = deque()
        self._s = 0.0
        self._i = 0

    def update(self, x: float) -> float:
        self._s += x
        self._buf.append(x)
        if self._i >= self.n:
            self._s -= self._buf.popleft()
        self._i += 1
        return self._s / self.n if self._i >= self.n else NAN


class EMA:
    __slots__ = ("_i", "_s", "k", "n", "value")

    def __init__(self, period: int) -> None:
        self.n = check_period(period)
        self.k = 2.0 / (self.n + 1)
        self._s = 0.0
        self._i = 0
        self.value = NAN

    def update(self, x: float) -> float:
        if self._i >= self.n:
            self.value = (x - self.value) * self.k + self.value
            return self.value
        self._s += x
        self._i += 1
        if self._i == self.n:
            self.value = self._s / self.n
        return self.value


class WMA:
    __slots__ = ("_buf", "_div", "_i", "_s", "_w", "n")

    def __init__(self, period: int) -> None:
        self.n = check_period(period)
        self._div = self.n * (self.n + 1) / 2.0
        self._buf: deque[float] = deque()
        self._s = 0.0
        self._w = 0.0
        self._i = 0

    def update(self, x: float) -> float:
        n = self.n
        self._buf.append(x)
        if self._i < n:
            self._w += x * (self._i + 1)
            self._s += x
            self._i += 1
            return self._w / self._div if self._i == n else NAN
        self._w += x * n - self._s
        self._s += x - self._buf.popleft()
        return self._w / self._div


class RSI:
    __slots__ = ("_gain", "_i", "_loss", "_prev", "n")

    def __init__(self, period: int = 14) -> None:
        self.n = check_period(period, minimum=2)
        self._gain = 0.0
        self._loss = 0.0
        self._prev = NAN
        self._i = 0

    def update(self, x: float) -> float:
        i, n = self._i, self.n
        self._i += 1
        prev, self._prev = self._prev, x
        if i == 0:
            return NAN
        d = x - prev
        if i <= n:
            if d < 0:
                self._loss -= d
            else:
                self._gain += d
            if i < n:
                return NAN
            self._gain /= n
            self._loss /= n
        else:
            self._gain *= n - 1
            self._loss *= n - 1
            if d < 0:
                self._loss -= d
            else:
                self._gain += d
            self._gain /= n
            self._loss /= n
        t = self._gain + self._loss
        return 100.0 * (self._gain / t) if t != 0.0 else 0.0


class MACD:
    """Returns (line, signal, hist); TA-Lib seeding (see momentum.macd)."""

    __slots__ = ("_fast", "_i", "_kf", "_ks", "_ksig", "_line_buf", "_sig", "_slow", "_warm",
                 "fast", "signal", "slow")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast = check_period(fast, "fast", 2)
        self.slow = check_period(slow, "slow", 2)
        self.signal = check_period(signal, "signal", 1)
        if self.fast >= self.slow:
            raise InvalidInput(f"fast ({fast}) must be < slow ({slow})", field="fast")
        self._kf = 2.0 / (self.fast + 1)
        self._ks = 2.0 / (self.slow + 1)
        self._ksig = 2.0 / (self.signal + 1)
        self._warm: list[float] = []
        self._line_buf: list[float] = []
        self._fast = self._slow = self._sig = NAN
        self._i = 0

    def update(self, x: float) -> tuple[float, float, float]:
        self._i += 1
        if self._i < self.slow:
            self._warm.append(x)
            return NAN, NAN, NAN
        if self._i == self.slow:
            self._warm.append(x)
            s = 0.0
            for v in self._warm:
                s += v
            self._slow = s / self.slow
            s = 0.0
            for v in self._warm[self.slow - self.fast:]:
                s += v
            self._fast = s / self.fast
            self._warm = []
        else:
            self._fast = (x - self._fast) * self._kf + self._fast
            self._slow = (x - self._slow) * self._ks + self._slow
        line = self._fast - self._slow
        j = self._i - self.slow  # 0 at the first line value
        if j < self.signal - 1:
            self._line_buf.append(line)
            return NAN, NAN, NAN
        if j == self.signal - 1:
            self._line_buf.append(line)
            s = 0.0
            for v in self._line_buf:
                s += v
            self._sig = s / self.signal
            self._line_buf = []
        else:
            self._sig = (line - self._sig) * self._ksig + self._sig
        return line, self._sig, line - self._sig


class Stochastic:
    """Returns (slow %K, %D)."""

    __slots__ = ("_d", "_highs", "_lows", "_sk", "k")

    def __init__(self, k: int = 14, smooth_k: int = 3, d: int = 3) -> None:
        self.k = check_period(k, "k")
        self._highs: deque[float] = deque(maxlen=self.k)
        self._lows: deque[float] = deque(maxlen=self.k)
        self._sk = SMA(check_period(smooth_k, "smooth_k"))
        self._d = SMA(check_period(d, "d"))

    def update(self, high: float, low: float, close: float) -> tuple[float, float]:
        self._highs.append(high)
        self._lows.append(low)
        if len(self._highs) < self.k:
            return NAN, NAN
        hh = max(self._highs)
        ll = min(self._lows)
        diff = (hh - ll) / 100.0
        fastk = (close - ll) / diff if diff != 0.0 else 0.0
        slowk = self._sk.update(fastk)
        if slowk != slowk:
            return NAN, NAN
        return slowk, self._d.update(slowk)


def _true_range(h: float, lo: float, pc: float) -> float:
    tr = h - lo
    a = abs(pc - h)
    if a > tr:
        tr = a
    b = abs(pc - lo)
    if b > tr:
        tr = b
    return tr


class ATR:
    __slots__ = ("_i", "_pc", "_s", "n", "value")

    def __init__(self, period: int = 14) -> None:
        self.n = check_period(period)
        self._i = 0
        self._s = 0.0
        self._pc = NAN
        self.value = NAN

    def update(self, high: float, low: float, close: float) -> float:
        i, n = self._i, self.n
        self._i += 1
        pc, self._pc = self._pc, close
        if i == 0:
            return NAN
        tr = _true_range(high, low, pc)
        if i < n:
            self._s += tr
            return NAN
        if i == n:
            self._s += tr
            self.value = self._s / n
        else:
            a = self.value * (n - 1)
            a += tr
            self.value = a / n
        return self.value


class ADX:
    __slots__ = ("_adx", "_i", "_mdm", "_pdm", "_prev", "_ptr", "_sum_dx", "n")

    def __init__(self, period: int = 14) -> None:
        self.n = check_period(period, minimum=2)
        self._i = 0
        self._pdm = self._mdm = self._ptr = self._sum_dx = 0.0
        self._adx = NAN
        self._prev: tuple[float, float, float] | None = None

    def update(self, high: float, low: float, close: float) -> float:
        i, n = self._i, self.n
        self._i += 1
        prev, self._prev = self._prev, (high, low, close)
        if prev is None:
            return NAN
        ph, pl, pc = prev
        dp = high - ph
        dm = pl - low
        p = q = 0.0
        if dm > 0 and dp < dm:
            q = dm
        elif dp > 0 and dp > dm:
            p = dp
        tr = _true_range(high, low, pc)
        if i < n:
            self._pdm += p
            self._mdm += q
            self._ptr += tr
            return NAN
        self._pdm = self._pdm - self._pdm / n + p
        self._mdm = self._mdm - self._mdm / n + q
        self._ptr = self._ptr - self._ptr / n + tr
        dx = NAN
        if not -1e-8 < self._ptr < 1e-8:
            mdi = 100.0 * (self._mdm / self._ptr)
            pdi = 100.0 * (self._pdm / self._ptr)
            t = mdi + pdi
            if not -1e-8 < t < 1e-8:
                dx = 100.0 * (abs(mdi - pdi) / t)
        if i < 2 * n - 1:
            if dx == dx:
                self._sum_dx += dx
            return NAN
        if i == 2 * n - 1:
            if dx == dx:
                self._sum_dx += dx
            self._adx = self._sum_dx / n
        elif dx == dx:
            self._adx = (self._adx * (n - 1) + dx) / n
        return self._adx


class Bollinger:
    """Returns (upper, middle, lower)."""

    __slots__ = ("_buf", "_s", "k_dn", "k_up", "n")

    def __init__(self, period: int = 20, k_up: float = 2.0, k_dn: float = 2.0) -> None:
        self.n = check_period(period, minimum=2)
        self.k_up = float(k_up)
        self.k_dn = float(k_dn)
        self._buf: deque[float] = deque()
        self._s = 0.0

    def update(self, x: float) -> tuple[float, float, float]:
        self._s += x
        self._buf.append(x)
        if len(self._buf) < self.n:
            return NAN, NAN, NAN
        mean = self._s / self.n
        acc = 0.0
        for v in self._buf:
            dev = v - mean
            acc += dev * dev
        self._s -= self._buf.popleft()
        var = acc / self.n
        sd = math.sqrt(var) if var >= 1e-8 else 0.0
        return mean + self.k_up * sd, mean, mean - self.k_dn * sd


class Supertrend:
    """Returns (line, direction)."""

    __slots__ = ("_atr", "_d", "_flb", "_fub", "_pc", "mult")

    def __init__(self, period: int = 10, multiplier: float = 3.0) -> None:
        if not multiplier > 0:
            raise InvalidInput("multiplier must be > 0", field="multiplier")
        self._atr = ATR(period)
        self.mult = float(multiplier)
        self._d = 0
        self._fub = self._flb = self._pc = NAN

    def update(self, high: float, low: float, close: float) -> tuple[float, int]:
        a = self._atr.update(high, low, close)
        pc, self._pc = self._pc, close
        if a != a:
            return NAN, 0
        hl2 = (high + low) / 2.0
        bub = hl2 + self.mult * a
        blb = hl2 - self.mult * a
        if self._d == 0:
            self._fub, self._flb = bub, blb
            self._d = -1  # no previous trend: start down, like the batch version
        else:
            if bub < self._fub or pc > self._fub:
                self._fub = bub
            if blb > self._flb or pc < self._flb:
                self._flb = blb
            if self._d == -1 and close > self._fub:
                self._d = 1
            elif self._d == 1 and close < self._flb:
                self._d = -1
        return (self._flb if self._d == 1 else self._fub), self._d


class VWAP:
    __slots__ = ("_pv", "_sess", "_vv")

    def __init__(self) -> None:
        self._sess: int | None = None
        self._pv = self._vv = 0.0

    def update(self, ts_ns: int, high: float, low: float, close: float, volume: float) -> float:
        sess = (ts_ns + IST_OFFSET_NS) // DAY_NS
        if sess != self._sess:
            self._sess = sess
            self._pv = self._vv = 0.0
        tp = (high + low + close) / 3.0
        self._pv += tp * float(volume)
        self._vv += float(volume)
        return self._pv / self._vv if self._vv > 0 else NAN


class OBV:
    __slots__ = ("_pc", "value")

    def __init__(self) -> None:
        self._pc = NAN
        self.value = NAN

    def update(self, close: float, volume: float) -> float:
        if self._pc != self._pc:
            self.value = float(volume)
        elif close > self._pc:
            self.value += volume
        elif close < self._pc:
            self.value -= volume
        self._pc = close
        return self.value
