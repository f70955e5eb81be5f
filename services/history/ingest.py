"""The one path a bar takes into the store from outside Kite's fetch loop: `WriteCandles`,
`ImportCandles` and the HDF5 import all validate with `validation.validate` (same reasons,
same segment limits, same "now") and then write, so an imported bar is held to exactly the
rules a fetched one is."""

from __future__ import annotations

from datetime import datetime

from mandi.core.candles import CandleFrame
from services.history.instruments import InstrumentRecord
from services.history.store import CandleStore
from services.history.validation import validate


def validated(inst: InstrumentRecord, interval: str, frame: CandleFrame, *,
              now: datetime) -> tuple[CandleFrame, int, dict[str, int]]:
    """(rows fit to store, rows rejected, {reason: rows})."""
    if not len(frame):
        return frame, 0, {}
    valid, issues = validate(frame, interval=interval, segment=inst.storage_segment, now=now)
    return valid, len(frame) - len(valid), issues


async def write_validated(store: CandleStore, inst: InstrumentRecord, interval: str,
                          frame: CandleFrame, *, now: datetime, check: bool, overwrite: bool,
                          provisional: bool = False) -> tuple[int, int, dict[str, int]]:
    """(rows written, rows rejected, {reason: rows}) of one series."""
    invalid, issues = 0, {}
    if check:
        frame, invalid, issues = validated(inst, interval, frame, now=now)
    written = await store.write(inst.instrument_token, interval, frame, overwrite=overwrite,
                                provisional=provisional) if len(frame) else 0
    return written, invalid, issues
