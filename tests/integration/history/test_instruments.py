"""The instrument master against real PostgreSQL, loaded from kitesim's instrument CSV parsed
by the real kiteconnect parser (the same bytes kitesim serves on /instruments/{exchange})."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kiteconnect import KiteConnect

from mandi.core.clock import TestClock
from mandi.core.errors import InvalidInput, NotFound
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from services.history.instruments import InstrumentMaster
from services.kitesim.universe import Universe, base_instruments, derivatives

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
DAY1 = date(2025, 1, 6)  # a Monday
DAY2 = date(2025, 2, 10)  # after the January expiries


class UniverseSource:
    """Kite's dump for a given day: kitesim's CSV through kiteconnect's own parser."""

    def __init__(self, ref: date) -> None:
        self.calls = 0
        self.set_day(ref)

    def set_day(self, ref: date) -> None:
        self.universe = Universe(base_instruments() + derivatives(ref, lambda _tok: 2_350_000))

    async def instruments(self, exchange: str | None = None) -> list[dict[str, Any]]:
        self.calls += 1
        raw = self.universe.csv(exchange).encode()
        return KiteConnect("k")._parse_instruments(raw)


@pytest_asyncio.fixture
async def master(pg_dsn: str) -> AsyncIterator[tuple[InstrumentMaster, UniverseSource, TestClock]]:
    await run_migrations(pg_dsn, "history", MIGRATIONS)
    pool = await create_pool(pg_dsn, schema="history")
    source = UniverseSource(DAY1)
    clock = TestClock(datetime(2025, 1, 6, 3, 0, tzinfo=UTC))
    try:
        yield InstrumentMaster(pool, source, clock), source, clock
    finally:
        await pool.close()


async def test_refresh_when_first_load_stores_all_four_exchanges(master) -> None:
    m, source, _ = master
    result = await m.refresh()
    assert result.refreshed and set(result.rows) == {"NSE", "BSE", "NFO", "BFO"}
    expected = sum(1 for i in source.universe.instruments if i.exchange in result.rows)
    assert sum(result.rows.values()) == expected
    infy = await m.lookup("nse", "infy")
    assert (infy.exchange, infy.tradingsymbol, infy.instrument_type) == ("NSE", "INFY", "EQ")
    assert infy.instrument_token == source.universe.get("NSE", "INFY").token
    assert infy.tick_size_paise == 5 and infy.active


async def test_refresh_when_already_loaded_today_skips_unless_forced(master) -> None:
    m, source, _ = master
    await m.refresh()
    calls = source.calls
    again = await m.refresh()
    assert not again.refreshed and source.calls == calls
    forced = await m.refresh(force=True)
    assert forced.refreshed and source.calls == calls + 4


async def test_refresh_when_contract_leaves_dump_keeps_it_inactive_with_last_seen(master) -> None:
    m, source, clock = master
    await m.refresh()
    expired = next(i for i in source.universe.instruments
                   if i.exchange == "NFO" and i.expiry and i.expiry < DAY2)
    clock.set(datetime.combine(DAY2, datetime.min.time(), UTC) + timedelta(hours=3))
    source.set_day(DAY2)
    result = await m.refresh()
    assert result.deactivated["NFO"] > 0
    rec = await m.lookup("NFO", expired.tradingsymbol)
    assert not rec.active and rec.last_seen == DAY1
    assert (await m.lookup("NSE", "INFY")).last_seen == DAY2
    live = await m.list(exchange="NFO", limit=1000)
    assert expired.tradingsymbol not in {r.tradingsymbol for r in live.items}
    with_expired = await m.list(exchange="NFO", include_expired=True, limit=1)
    assert with_expired.total > live.total


async def test_lookup_when_symbol_unknown_raises_not_found_naming_symbol(master) -> None:
    m, _, _ = master
    await m.refresh()
    with pytest.raises(NotFound) as err:
        await m.lookup("NSE", "NOSUCHCO")
    assert err.value.field == "tradingsymbol" and "NSE:NOSUCHCO" in err.value.message


async def test_lookup_when_exchange_unknown_raises_invalid_input(master) -> None:
    m, _, _ = master
    with pytest.raises(InvalidInput) as err:
        await m.lookup("MCX", "GOLD")
    assert err.value.field == "exchange"


async def test_search_when_prefix_ranks_prefix_matches_first(master) -> None:
    m, _, _ = master
    await m.refresh()
    found = await m.search("INF", exchange="NSE", limit=5)
    assert found and found[0].tradingsymbol == "INFY"
    assert all(r.exchange == "NSE" for r in found)


async def test_search_when_typo_finds_fuzzy_match(master) -> None:
    m, _, _ = master
    await m.refresh()
    found = await m.search("RELIANSE", limit=5)
    assert "RELIANCE" in {r.tradingsymbol for r in found}


async def test_list_when_filtering_option_chain_returns_matching_contracts(master) -> None:
    m, source, _ = master
    await m.refresh()
    opt = next(i for i in source.universe.instruments
               if i.exchange == "NFO" and i.instrument_type == "CE" and i.name == "NIFTY")
    page = await m.list(underlying="NIFTY", expiry=opt.expiry, instrument_type="CE",
                        strike_paise=opt.strike)
    assert [r.tradingsymbol for r in page.items] == [opt.tradingsymbol]
    chain = await m.list(underlying="NIFTY", expiry=opt.expiry, limit=10)
    assert chain.total > 10 and chain.next_page_token
    nxt = await m.list(underlying="NIFTY", expiry=opt.expiry, limit=10,
                       page_token=chain.next_page_token)
    assert not {r.instrument_token for r in nxt.items} & {r.instrument_token for r in chain.items}


async def test_list_when_bad_filters_raise_invalid_input_naming_field(master) -> None:
    m, _, _ = master
    with pytest.raises(InvalidInput) as err:
        await m.list(instrument_type="SWAP")
    assert err.value.field == "instrument_type"
    with pytest.raises(InvalidInput) as err:
        await m.list(page_token="garbage!")
    assert err.value.field == "page_token"


async def test_search_when_symbol_on_nse_and_bse_lists_nse_first(master) -> None:
    m, _, _ = master
    await m.refresh()
    found = await m.search("RELIA", limit=5)
    listed = [(r.tradingsymbol, r.exchange) for r in found if r.tradingsymbol == "RELIANCE"]
    assert listed == [("RELIANCE", "NSE"), ("RELIANCE", "BSE")]
