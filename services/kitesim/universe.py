"""The instrument universe: NIFTY 50-like equities on NSE and BSE, three indices, and NFO/BFO
futures and options around the index levels of the simulator's start day.

Tokens obey Kite's rule `instrument_token = exchange_token * 256 + segment_code`, because the
ticker reads the price divisor and tradability from the low byte. NSE exchange tokens and BSE
scrip codes are the real ones for the well-known names; derivative exchange tokens are assigned
in order. The derivative set is fixed at start (expiries after the start day).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from mandi.core.calendar import is_business_day

SEG = {"NSE": 1, "NFO": 2, "BSE": 4, "BFO": 5, "INDICES": 9}
CSV_HEADER = ("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
              "tick_size,lot_size,instrument_type,segment,exchange")
HISTORY_START = date(2015, 1, 1)


@dataclass(frozen=True, slots=True)
class Instrument:
    token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    exchange: str
    segment: str
    instrument_type: str  # EQ, FUT, CE, PE
    kind: str  # EQ, INDEX, FUT, OPT
    tick: int  # paise
    lot_size: int
    source: int  # token whose price path drives this instrument
    base_paise: int = 0  # anchor level of the source path (EQ/INDEX only)
    sigma: float = 0.015  # daily volatility of the source path
    volume_per_sec: float = 50.0  # mean traded lots per second
    expiry: date | None = None
    strike: int = 0  # paise
    listed: date = HISTORY_START
    band_pct: int = 0  # daily price band (EQ: circuit 2/5/10/20; FUT: operating range)

    @property
    def stock_option(self) -> bool:
        return self.kind == "OPT" and self.name not in INDEX_DERIVATIVES

    @property
    def key(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def tradable(self) -> bool:
        return self.kind != "INDEX"

    def csv_row(self) -> str:
        index = self.kind == "INDEX"
        return ",".join((
            str(self.token), str(self.exchange_token), _csv_text(self.tradingsymbol),
            _csv_text(self.name), "0.0", self.expiry.isoformat() if self.expiry else "",
            f"{self.strike / 100:.1f}", "0.0" if index else f"{self.tick / 100:g}",
            "0" if index else str(self.lot_size), self.instrument_type, self.segment,
            self.exchange,
        ))


def _csv_text(value: str) -> str:
    if any(c in value for c in ',"\n'):
        buf = io.StringIO()
        csv.writer(buf).writerow([value])
        return buf.getvalue().strip()
    return value


# symbol, company, NSE exchange token, BSE scrip code, price (rupees, late-2025 level)
EQUITIES: tuple[tuple[str, str, int, int, int], ...] = (
    ("RELIANCE", "RELIANCE INDUSTRIES", 2885, 500325, 1510),
    ("TCS", "TATA CONSULTANCY SERV LT", 11536, 532540, 3120),
    ("INFY", "INFOSYS", 1594, 500209, 1530),
    ("HDFCBANK", "HDFC BANK", 1333, 500180, 995),
    ("SBIN", "STATE BANK OF INDIA", 3045, 500112, 960),
    ("ICICIBANK", "ICICI BANK", 4963, 532174, 1375),
    ("BHARTIARTL", "BHARTI AIRTEL", 10604, 532454, 2090),
    ("ITC", "ITC", 1660, 500875, 405),
    ("LT", "LARSEN & TOUBRO", 11483, 500510, 4010),
    ("KOTAKBANK", "KOTAK MAHINDRA BANK", 1922, 500247, 2110),
    ("HINDUNILVR", "HINDUSTAN UNILEVER", 1394, 500696, 2430),
    ("AXISBANK", "AXIS BANK", 5900, 532215, 1240),
    ("BAJFINANCE", "BAJAJ FINANCE", 317, 500034, 1010),
    ("MARUTI", "MARUTI SUZUKI INDIA", 10999, 532500, 15800),
    ("ASIANPAINT", "ASIAN PAINTS", 236, 500820, 2870),
    ("SUNPHARMA", "SUN PHARMACEUTICAL IND", 3351, 524715, 1760),
    ("TITAN", "TITAN COMPANY", 3506, 500114, 3850),
    ("ULTRACEMCO", "ULTRATECH CEMENT", 11532, 532538, 11750),
    ("NTPC", "NTPC", 11630, 532555, 330),
    ("POWERGRID", "POWER GRID CORP", 14977, 532898, 270),
    ("M&M", "MAHINDRA & MAHINDRA", 2031, 500520, 3720),
    ("WIPRO", "WIPRO", 3787, 507685, 245),
    ("HCLTECH", "HCL TECHNOLOGIES", 7229, 532281, 1610),
    ("TECHM", "TECH MAHINDRA", 13538, 532755, 1440),
    ("NESTLEIND", "NESTLE INDIA", 17963, 500790, 1270),
    ("ONGC", "OIL AND NATURAL GAS CORP", 2475, 500312, 250),
    ("COALINDIA", "COAL INDIA", 20374, 533278, 385),
    ("JSWSTEEL", "JSW STEEL", 11723, 500228, 1170),
    ("TATASTEEL", "TATA STEEL", 3499, 500470, 172),
    ("ADANIENT", "ADANI ENTERPRISES", 25, 512599, 2450),
    ("ADANIPORTS", "ADANI PORTS AND SEZ", 15083, 532921, 1460),
    ("BAJAJFINSV", "BAJAJ FINSERV", 16675, 532978, 2060),
    ("BAJAJ-AUTO", "BAJAJ AUTO", 16669, 532977, 8850),
    ("GRASIM", "GRASIM INDUSTRIES", 1232, 500300, 2790),
    ("HINDALCO", "HINDALCO INDUSTRIES", 1363, 500440, 810),
    ("CIPLA", "CIPLA", 694, 500087, 1530),
    ("DRREDDY", "DR. REDDY'S LABORATORIES", 881, 500124, 1250),
    ("EICHERMOT", "EICHER MOTORS", 910, 505200, 6950),
    ("HEROMOTOCO", "HERO MOTOCORP", 1348, 500182, 5600),
    ("BRITANNIA", "BRITANNIA INDUSTRIES", 547, 500825, 5900),
    ("APOLLOHOSP", "APOLLO HOSPITALS ENTER.", 157, 508869, 7600),
    ("DIVISLAB", "DIVI'S LABORATORIES", 10940, 532488, 6550),
    ("INDUSINDBK", "INDUSIND BANK", 5258, 532187, 790),
    ("SBILIFE", "SBI LIFE INSURANCE", 21808, 540719, 2010),
    ("HDFCLIFE", "HDFC LIFE INS CO", 467, 540777, 760),
    ("TATACONSUM", "TATA CONSUMER PRODUCT", 3432, 500800, 1160),
    ("SHRIRAMFIN", "SHRIRAM FINANCE", 4306, 511218, 810),
    ("TRENT", "TRENT", 1964, 500251, 4520),
    ("BEL", "BHARAT ELECTRONICS", 383, 500049, 420),
    ("JIOFIN", "JIO FIN SERVICES", 18143, 543940, 310),
    ("ETERNAL", "ETERNAL", 5097, 543320, 300),
)
# symbol, exchange, exchange token, level (rupees)
INDICES: tuple[tuple[str, str, int, int], ...] = (
    ("NIFTY 50", "NSE", 1001, 25900),
    ("NIFTY BANK", "NSE", 1016, 58500),
    ("SENSEX", "BSE", 1, 84900),
)
# derivative name, underlying index symbol, exchange, lot, strike step (rupees), weekly weekday
DERIVATIVES = (
    ("NIFTY", "NIFTY 50", "NFO", 65, 50, 1),  # weekly Tuesday
    ("BANKNIFTY", "NIFTY BANK", "NFO", 30, 100, None),  # monthly only
    ("SENSEX", "SENSEX", "BFO", 20, 100, 3),  # weekly Thursday
)
INDEX_DERIVATIVES = frozenset(d[0] for d in DERIVATIVES)
# NSE/BSE: stocks (and stock futures) priced below ₹250 trade on a 0.01 tick since 10 Jun 2024;
# everything else, index options included, on 0.05 [K7 in the domain review].
FINE_TICK_BELOW_PAISE = 250 * 100
# Daily price bands (percent). Every seeded stock is an F&O stock: NSE gives those no fixed
# circuit but a dynamic band that starts at 10 %; the other classes (2/5/20) apply to stocks
# outside F&O and are set here per symbol when such a stock is added.
DEFAULT_BAND_PCT = 10
EQUITY_BAND_PCT: dict[str, int] = {}
FUTURES_OPERATING_RANGE_PCT = 10  # NSE F&O operating range for index and stock futures
# Stock options: a small chain (current monthly, STOCK_OPTION_STRIKES either side of ATM) for
# these underlyings, so the stock-option rules (no MARKET, no SL-M) can be exercised.
STOCK_OPTION_UNDERLYINGS = ("RELIANCE", "TCS")
STOCK_OPTION_STRIKES = 5
STRIKES_EACH_SIDE = 55
WEEKLY_EXPIRIES = 5
_MONTH_CODE = "123456789OND"


def token_of(exchange_token: int, segment: str) -> int:
    return exchange_token * 256 + SEG[segment]


def base_instruments() -> list[Instrument]:
    out: list[Instrument] = []
    for i, (sym, name, nse_tok, bse_code, price) in enumerate(EQUITIES):
        nse = token_of(nse_tok, "NSE")
        sigma = 0.012 + 0.001 * (i % 8)
        vps = 20.0 + 400.0 * (50 - i) / 50
        band = EQUITY_BAND_PCT.get(sym, DEFAULT_BAND_PCT)
        tick = stock_tick(price * 100)
        out.append(Instrument(nse, nse_tok, sym, name, "NSE", "NSE", "EQ", "EQ", tick, 1, nse,
                              price * 100, sigma, vps, band_pct=band))
        out.append(Instrument(token_of(bse_code, "BSE"), bse_code, sym, name, "BSE", "BSE",
                              "EQ", "EQ", tick, 1, nse, price * 100, sigma, vps / 12,
                              band_pct=band))
    for sym, exch, ex_tok, level in INDICES:
        tok = token_of(ex_tok, "INDICES")
        out.append(Instrument(tok, ex_tok, sym, sym, exch, "INDICES", "EQ", "INDEX", 5, 0, tok,
                              level * 100, 0.009, 0.0))
    return out


def stock_tick(price_paise: int) -> int:
    """Tick (paise) of a stock or stock future at this price level: 0.01 below ₹250."""
    return 1 if price_paise < FINE_TICK_BELOW_PAISE else 5


def option_step(price_rupees: int) -> int:
    """Strike interval of a stock option chain: the widest of 5/10/20/50/100 within 2 %."""
    return max([s for s in (5, 10, 20, 50, 100) if s <= price_rupees * 0.02] or [5])


def _adjust_back(day: date) -> date:
    while not is_business_day(day):  # expiries never land on a Muhurat-only day
        day -= timedelta(days=1)
    return day


def monthly_expiry(year: int, month: int, weekday: int) -> date:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    day = nxt - timedelta(days=1)
    while day.weekday() != weekday:
        day -= timedelta(days=1)
    return _adjust_back(day)


def _next_months(ref: date, n: int, weekday: int) -> list[date]:
    out, y, m = [], ref.year, ref.month
    while len(out) < n:
        exp = monthly_expiry(y, m, weekday)
        if exp >= ref:
            out.append(exp)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _next_weeklies(ref: date, n: int, weekday: int) -> list[date]:
    out, day = [], ref
    while len(out) < n:
        if day.weekday() == weekday:
            exp = _adjust_back(day)
            if exp >= ref:
                out.append(exp)
        day += timedelta(days=1)
    return out


def derivatives(ref: date, spot_paise: Callable[[int], int],
                strikes_each_side: int = STRIKES_EACH_SIDE,
                weeklies: int = WEEKLY_EXPIRIES) -> list[Instrument]:
    """Index futures and options around the index levels of `ref`, and stock futures.

    Futures: the next 3 monthly expiries. Options: the next `weeklies` weekly expiries plus the
    current monthly (BANKNIFTY: 3 monthlies), `strikes_each_side` strikes either side of ATM.
    The defaults give a universe of about 3,000 instruments, the KiteTicker per-connection cap.
    """
    out: list[Instrument] = []
    next_tok = {"NFO": 35000, "BFO": 800000}
    for sym, _, nse_tok, _, price in EQUITIES:
        lot = max(1, round(800_000 / price / 25) * 25)
        for exp in _next_months(ref, 3, 1):
            fsym = f"{sym}{exp:%y}{exp:%b}".upper() + "FUT"
            out.append(_deriv(next_tok, "NFO", fsym, sym, "FUT", lot, token_of(nse_tok, "NSE"),
                              exp, 0, ref, tick=stock_tick(price * 100)))
        if sym in STOCK_OPTION_UNDERLYINGS:
            exp = _next_months(ref, 1, 1)[0]
            und = token_of(nse_tok, "NSE")
            step = option_step(price)
            atm = round(spot_paise(und) / (step * 100)) * step
            for k in range(-STOCK_OPTION_STRIKES, STOCK_OPTION_STRIKES + 1):
                for typ in ("CE", "PE"):
                    osym = f"{sym}{exp:%y}{exp:%b}".upper() + f"{atm + k * step}{typ}"
                    out.append(_deriv(next_tok, "NFO", osym, sym, typ, lot, und, exp,
                                      (atm + k * step) * 100, ref))
    for name, index_sym, exch, lot, step, weekly in DERIVATIVES:
        und = next(token_of(t, "INDICES") for s, _, t, _ in INDICES if s == index_sym)
        mweekday = 1 if exch == "NFO" else 3
        months = _next_months(ref, 3, mweekday)
        if exch == "NFO":
            for exp in months:
                sym = f"{name}{exp:%y}{exp:%b}".upper() + "FUT"
                out.append(_deriv(next_tok, exch, sym, name, "FUT", lot, und, exp, 0, ref))
        expiries = sorted(set(_next_weeklies(ref, weeklies, weekly) + months[:1])
                          if weekly is not None else months)
        atm = round(spot_paise(und) / (step * 100)) * step
        for exp in expiries:
            monthly = exp == monthly_expiry(exp.year, exp.month, mweekday)
            stem = (f"{name}{exp:%y}{exp:%b}".upper() if monthly
                    else f"{name}{exp:%y}{_MONTH_CODE[exp.month - 1]}{exp:%d}")
            for k in range(-strikes_each_side, strikes_each_side + 1):
                strike = atm + k * step
                for typ in ("CE", "PE"):
                    out.append(_deriv(next_tok, exch, f"{stem}{strike}{typ}", name, typ, lot,
                                      und, exp, strike * 100, ref))
    return out


def _deriv(next_tok: dict[str, int], exch: str, sym: str, name: str, typ: str, lot: int,
           und: int, exp: date, strike: int, ref: date, tick: int = 5) -> Instrument:
    ex_tok = next_tok[exch]
    next_tok[exch] += 1
    seg = f"{exch}-FUT" if typ == "FUT" else f"{exch}-OPT"
    listed = exp - timedelta(days=90 if typ == "FUT" else 60)
    return Instrument(token_of(ex_tok, exch), ex_tok, sym, name, exch, seg, typ,
                      "FUT" if typ == "FUT" else "OPT", tick, lot, und,
                      volume_per_sec=30.0 if typ == "FUT" else 8.0, expiry=exp, strike=strike,
                      listed=min(listed, ref),
                      band_pct=FUTURES_OPERATING_RANGE_PCT if typ == "FUT" else 0)


class Universe:
    def __init__(self, instruments: list[Instrument]) -> None:
        self.instruments = instruments
        self.by_token = {i.token: i for i in instruments}
        self.by_key = {i.key: i for i in instruments}
        if len(self.by_token) != len(instruments) or len(self.by_key) != len(instruments):
            raise ValueError("duplicate instrument token or symbol")

    def get(self, exchange: str, tradingsymbol: str) -> Instrument | None:
        return self.by_key.get(f"{exchange}:{tradingsymbol}")

    def csv(self, exchange: str | None = None) -> str:
        rows = [i.csv_row() for i in self.instruments if exchange in (None, i.exchange)]
        return "\n".join([CSV_HEADER, *rows]) + "\n"
