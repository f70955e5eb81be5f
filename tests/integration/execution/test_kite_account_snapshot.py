"""GetAccountSnapshot's broker half against kitesim through the unmodified kiteconnect client:
Kite's margins and holdings (rupees) arrive as paise, field for field; an expired session
leaves them empty and named in `unavailable` instead of failing the snapshot."""

from __future__ import annotations

import pytest

from mandi.testing.kitesim import KitesimServer
from services.execution.accounts import Credentials
from services.execution.engine import Engine
from services.execution.snapshot import snapshot
from tests.integration.execution.kit import new_account_id
from tests.integration.execution.test_kite_scenario import engine  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def _p(rupees: float) -> int:
    return round(rupees * 100)


async def test_snapshot_of_a_kite_account_matches_kites_margins_and_holdings(
        engine: Engine, sim: KitesimServer) -> None:  # noqa: F811
    aid = new_account_id()
    await engine.accounts.create(aid, "kite", credentials=Credentials(
        api_key=sim.api_key, access_token=sim.access_token or "", root=sim.url))
    kite = sim.kite()
    margins, holdings = kite.margins(), kite.holdings()
    snap = await snapshot(engine, aid)
    assert list(snap.unavailable) == [] and snap.broker == 1  # BROKER_KIND_KITE
    eq = next(m for m in snap.margins if m.segment == "equity")
    assert eq.net_paise == _p(margins["equity"]["net"])
    assert eq.available_cash_paise == _p(margins["equity"]["available"]["cash"])
    assert eq.utilised_debits_paise == _p(margins["equity"]["utilised"]["debits"])
    assert holdings, "kitesim seeds holdings"
    got = {h.symbol.tradingsymbol: h for h in snap.holdings}
    for h in holdings:
        mine = got[h["tradingsymbol"]]
        assert (mine.quantity, mine.average_price_paise, mine.isin) == (
            h["quantity"], _p(h["average_price"]), h["isin"])


async def test_snapshot_when_session_expired_reports_unavailable_parts(
        engine: Engine, sim: KitesimServer) -> None:  # noqa: F811
    aid = new_account_id()
    await engine.accounts.create(aid, "kite", credentials=Credentials(
        api_key=sim.api_key, access_token="stale", root=sim.url))
    snap = await snapshot(engine, aid)
    assert [u.split(":")[0] for u in snap.unavailable] == ["margins", "holdings"]
    assert list(snap.margins) == [] and list(snap.holdings) == [] and list(snap.positions) == []
    assert "stale" not in " ".join(snap.unavailable)
