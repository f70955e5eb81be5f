"""The `/ws/*` routes and the app wiring of the WebSocket layer (see ws/__init__.py)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.exceptions import WebSocketException

from mandi.platform.config import Settings
from services.gateway.ws.account_channel import ACCOUNT
from services.gateway.ws.bot_channels import LOGS, STATE
from services.gateway.ws.channels import ORDERS, POSITIONS
from services.gateway.ws.hub import Hub
from services.gateway.ws.market_channel import MARKET, MARKET_CANDLES
from services.gateway.ws.notify_channel import NOTIFICATIONS
from services.gateway.ws.progress_channels import BACKTEST, JOBS
from services.gateway.ws.session import close_with, serve

router = APIRouter()


@router.websocket("/ws/orders")
async def ws_orders(websocket: WebSocket) -> None:
    await serve(websocket, ORDERS)


@router.websocket("/ws/positions")
async def ws_positions(websocket: WebSocket) -> None:
    await serve(websocket, POSITIONS)


@router.websocket("/ws/account")
async def ws_account(websocket: WebSocket) -> None:
    await serve(websocket, ACCOUNT)


@router.websocket("/ws/notifications")
async def ws_notifications(websocket: WebSocket) -> None:
    await serve(websocket, NOTIFICATIONS)


@router.websocket("/ws/state")
async def ws_state(websocket: WebSocket) -> None:
    await serve(websocket, STATE)


@router.websocket("/ws/logs")
async def ws_logs(websocket: WebSocket) -> None:
    await serve(websocket, LOGS)


@router.websocket("/ws/market/{symbol}")
async def ws_market(websocket: WebSocket, symbol: str) -> None:
    """Ticks; with ?interval= that interval's closed candles."""
    await serve(websocket, MARKET_CANDLES if "interval" in websocket.query_params else MARKET)


@router.websocket("/ws/jobs/{job_id}")
async def ws_jobs(websocket: WebSocket, job_id: str) -> None:
    await serve(websocket, JOBS)


@router.websocket("/ws/backtest/{backtest_id}")
async def ws_backtest(websocket: WebSocket, backtest_id: str) -> None:
    await serve(websocket, BACKTEST)


async def _refused(websocket: WebSocket, exc: WebSocketException) -> None:
    """A socket the guard refused: accepted and closed with the code and reason, which every
    client library reports (closing before accepting shows only as an HTTP 403)."""
    await close_with(websocket, exc.code, exc.reason or "")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.add_exception_handler(WebSocketException, _refused)  # type: ignore[arg-type]


def start(app: FastAPI, settings: Settings) -> None:
    """In the lifespan: the process-wide hub of upstream streams and topics."""
    app.state.ws_settings = settings
    app.state.ws_hub = Hub(settings.gateway_ws_replay, settings.gateway_ws_linger_s)


async def stop(app: FastAPI) -> None:
    await app.state.ws_hub.close()
