"""THE table of who may call which route: every gateway route, by (method, path template), and
its access level. Read it as the API's permission model:

* PUBLIC: no credential (health, login, token, refresh, logout, the Kite callback);
* READ: any signed-in user (viewer and up); reading the caller's own accounts, data, market
  prices, notifications, and managing the caller's own API keys;
* TRADE: trader and admin: orders, GTTs, bots, strategies and backtests, history fetch jobs,
  the import of the user's HDF5 store (`overwrite` as a fetch may), emergency stop (its reset
  is ADMIN, checked in the route because it shares the path);
* ADMIN: users, grants, audit, risk limits, deleting or importing stored market data.

On top of the level, a request naming an `account_id` (path, query, JSON body or form) the caller
does not hold is refused as 404 (enforce.py), for every route.

A route missing here is ADMIN-only (fail closed) and the route-matrix test fails until it is
classified: a new route is added here in the same change that adds it.
"""

from __future__ import annotations

from services.gateway.auth.principal import Access

PUBLIC, READ, TRADE, ADMIN = Access.PUBLIC, Access.READ, Access.TRADE, Access.ADMIN

ROUTE_ACCESS: dict[tuple[str, str], Access] = {
    # --- meta and auth -------------------------------------------------------------------
    ("GET", "/healthz"): PUBLIC,
    # (the web UI's static files are the router's fallback, not a route: web_ui.py, PUBLIC,
    # answering only GETs no route matched, outside /api, /ws, /docs, /metrics…)
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): PUBLIC,  # revokes only the credentials it is given
    ("POST", "/api/v1/auth/session"): PUBLIC,  # cookie login for the web UI
    ("GET", "/api/v1/kite/callback"): PUBLIC,  # Kite's redirect; its signed `state` decides
    ("GET", "/api/v1/kite/login"): TRADE,  # the trader's daily Kite login, per held account
    ("GET", "/api/v1/kite/session"): READ,  # active / login_needed, with the login link
    ("GET", "/api/v1/auth/me"): READ,
    ("POST", "/api/v1/auth/api-keys"): READ,
    ("GET", "/api/v1/auth/api-keys"): READ,
    ("DELETE", "/api/v1/auth/api-keys/{key_id}"): READ,
    # --- users, grants, audit ------------------------------------------------------------
    ("POST", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users/{username}"): ADMIN,
    ("PATCH", "/api/v1/users/{username}"): ADMIN,
    ("DELETE", "/api/v1/users/{username}"): ADMIN,
    ("POST", "/api/v1/accounts/{account_id}/grants"): ADMIN,
    ("DELETE", "/api/v1/accounts/{account_id}/grants/{username}"): ADMIN,
    ("GET", "/api/v1/audit"): ADMIN,
    # --- history data (/api/data) --------------------------------------------------------
    ("POST", "/api/data/fetch-equity"): TRADE,
    ("POST", "/api/data/fetch-derivatives"): TRADE,
    ("POST", "/api/data/fetch-batch"): TRADE,
    ("GET", "/api/data/jobs"): READ,
    ("GET", "/api/data/jobs/{job_id}"): READ,
    ("DELETE", "/api/data/jobs/{job_id}"): TRADE,
    ("GET", "/api/data/instruments/{exchange}"): READ,
    ("GET", "/api/data/lookup/{exchange}/{symbol}"): READ,
    ("GET", "/api/data/search"): READ,
    ("GET", "/api/data/database-info/{segment}"): READ,
    ("GET", "/api/data/existing-range/{exchange}/{symbol}/{interval}"): READ,
    ("GET", "/api/data/coverage/{exchange}/{symbol}/{interval}"): READ,
    ("GET", "/api/data/candles/{exchange}/{symbol}/{interval}"): READ,
    ("GET", "/api/data/export/{exchange}/{symbol}/{interval}"): READ,
    ("DELETE", "/api/data/candles/{exchange}/{symbol}"): ADMIN,
    ("POST", "/api/data/import-symbols"): ADMIN,
    ("POST", "/api/data/import-candles/{exchange}/{symbol}/{interval}"): ADMIN,
    ("POST", "/api/data/import-hdf5"): TRADE,  # the trader's own HDF5 store (seeds 000/001)
    # --- trading (execution) -------------------------------------------------------------
    ("GET", "/api/v1/accounts"): READ,  # lists only the caller's accounts
    ("POST", "/api/v1/orders"): TRADE,
    ("GET", "/api/v1/orders"): READ,
    ("GET", "/api/v1/orders/{order_id}"): READ,
    ("DELETE", "/api/v1/orders/{order_id}"): TRADE,
    ("PATCH", "/api/v1/orders/{order_id}"): TRADE,
    ("GET", "/api/v1/positions"): READ,
    ("GET", "/api/v1/gtt"): READ,
    ("POST", "/api/v1/gtt"): TRADE,
    ("PUT", "/api/v1/gtt/{gtt_id}"): TRADE,
    ("DELETE", "/api/v1/gtt/{gtt_id}"): TRADE,
    ("GET", "/api/v1/risk"): READ,
    ("PUT", "/api/v1/risk"): ADMIN,
    ("POST", "/api/v1/bot/emergency_stop"): TRADE,  # without account_id: the caller's accounts
    ("POST", "/api/v1/reconcile"): TRADE,
    ("POST", "/api/v1/pnl/import"): TRADE,
    # seed 004's dashboards: without account_id, the caller's accounts
    ("GET", "/api/trades"): READ,
    ("GET", "/api/trades/export"): READ,
    ("GET", "/api/v1/trades"): READ,
    ("GET", "/api/cumulative-pnl"): READ,
    ("GET", "/api/daily-stats"): READ,
    ("GET", "/api/pnl-calendar"): READ,
    # --- strategies, backtests, analysis (custom Python: admin, checked by the service) ---
    ("GET", "/api/v1/strategy/types"): READ,
    ("GET", "/api/v1/strategy"): READ,
    ("PUT", "/api/v1/strategy"): TRADE,
    ("POST", "/api/v1/strategy/validate"): TRADE,
    ("POST", "/api/v1/strategy/import"): TRADE,
    ("GET", "/api/v1/strategy/export"): READ,
    ("GET", "/api/v1/strategies"): READ,
    ("POST", "/api/v1/strategies"): TRADE,
    ("POST", "/api/v1/strategies/import"): TRADE,
    ("GET", "/api/v1/strategies/{strategy_id}"): READ,
    ("PUT", "/api/v1/strategies/{strategy_id}"): TRADE,
    ("DELETE", "/api/v1/strategies/{strategy_id}"): TRADE,
    ("GET", "/api/v1/strategies/{strategy_id}/export"): READ,
    ("POST", "/api/v1/backtest/run"): TRADE,
    ("GET", "/api/v1/backtest/{backtest_id}"): READ,
    ("GET", "/api/v1/backtest/{backtest_id}/results"): READ,
    ("DELETE", "/api/v1/backtest/{backtest_id}"): TRADE,
    ("GET", "/api/v1/backtest/{backtest_id}/trades.csv"): READ,
    ("GET", "/api/v1/backtest/{backtest_id}/report"): READ,
    ("GET", "/api/v1/backtests"): READ,
    ("POST", "/api/v1/optimize"): TRADE,
    ("GET", "/api/v1/optimize/{optimization_id}"): READ,
    ("DELETE", "/api/v1/optimize/{optimization_id}"): TRADE,
    ("GET", "/api/v1/analysis/indicators"): READ,
    ("GET", "/api/v1/analysis/stats"): READ,
    # --- market data -----------------------------------------------------------------------
    ("GET", "/api/v1/market/ltp"): READ,
    ("GET", "/api/v1/market/candles/{exchange}/{symbol}"): READ,
    # --- notifications (the caller's own) ------------------------------------------------
    ("GET", "/api/v1/notifications/settings"): READ,
    ("PUT", "/api/v1/notifications/settings"): READ,
    ("GET", "/api/v1/notifications"): READ,
    ("POST", "/api/v1/notifications/read-all"): READ,
    ("POST", "/api/v1/notifications/{notification_id}/read"): READ,
    # --- bots --------------------------------------------------------------------------------
    ("POST", "/api/v1/bots"): TRADE,
    ("GET", "/api/v1/bots"): READ,
    ("GET", "/api/v1/bots/{bot_id}"): READ,
    ("DELETE", "/api/v1/bots/{bot_id}"): TRADE,
    ("POST", "/api/v1/bots/{bot_id}/start"): TRADE,
    ("POST", "/api/v1/bots/{bot_id}/stop"): TRADE,
    ("POST", "/api/v1/bots/{bot_id}/pause"): TRADE,
    ("PUT", "/api/v1/bots/{bot_id}/schedule"): TRADE,
    ("POST", "/api/v1/bots/{bot_id}/key"): TRADE,  # rotates the external-signal key
    ("GET", "/api/v1/bots/{bot_id}/logs"): READ,
    ("GET", "/api/v1/bots/{bot_id}/signals"): READ,
    ("GET", "/api/v1/bots/{bot_id}/parity"): READ,
    # an external bot's signals are authenticated by the bot's own key (X-Bot-Key, checked by
    # the strategy service: missing or wrong → 401), not by a user's credential
    ("POST", "/api/v1/bots/{bot_id}/signals"): PUBLIC,
    # seed 002's single-bot calls on the caller's default bot
    ("GET", "/api/v1/state"): READ,
    ("POST", "/api/v1/bot/start"): TRADE,
    ("POST", "/api/v1/bot/stop"): TRADE,
    ("GET", "/api/v1/logs"): READ,  # the caller's bots and the audit log of their accounts
    # --- seed 002: watchlist, config, symbols, account snapshot (the caller's own) -----------
    ("GET", "/api/v1/watchlist"): READ,
    ("PUT", "/api/v1/watchlist"): READ,
    ("POST", "/api/v1/watchlist/add"): READ,
    ("POST", "/api/v1/watchlist/remove"): READ,
    ("GET", "/api/v1/config"): READ,  # secrets redacted
    ("PUT", "/api/v1/config"): READ,  # own preferences; `platform` needs admin (in the route)
    ("GET", "/api/v1/symbols"): READ,
    ("GET", "/api/v1/account"): READ,
    # --- WebSocket channels (services/gateway/ws/), scoped by ?account_id= like REST --------
    ("WS", "/ws/orders"): READ,
    ("WS", "/ws/positions"): READ,
    ("WS", "/ws/account"): READ,  # margins, holdings, positions, today's P&L
    ("WS", "/ws/notifications"): READ,  # the caller's own
    ("WS", "/ws/state"): READ,  # a bot the caller may read (?bot_id=, else the default bot)
    ("WS", "/ws/logs"): READ,
    ("WS", "/ws/market/{symbol}"): READ,  # EXCHANGE:SYMBOL
    ("WS", "/ws/jobs/{job_id}"): READ,  # as GET /api/data/jobs/{job_id}
    ("WS", "/ws/backtest/{backtest_id}"): READ,  # the caller's own run (or an admin)
}

UNCLASSIFIED = ADMIN  # fail closed


def access_of(method: str, path: str) -> Access:
    """The level a route needs; WebSocket routes are keyed with method "WS"."""
    return ROUTE_ACCESS.get((method.upper(), path), UNCLASSIFIED)
