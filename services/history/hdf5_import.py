"""Import the user's HDF5 stores (`EQUITY.h5`, `DERIVATIVES.h5`) into the OHLCV store.

    python -m services.history.hdf5_import FILE [--segment EQUITY|DERIVATIVES] [--dry-run]
        [--overwrite] [--map KEY=EXCHANGE:SYMBOL:INTERVAL ...] [--skip KEY ...] [--json]

The same code serves the `ImportHdf5` RPC (`POST /api/data/import-hdf5`). What is all-or-nothing:
- the file: it is read in full (`hdf5_reader.read_hdf5`) before anything is stored, so a file
  HDF5 cannot read (not HDF5, truncated, corrupt) is refused naming `file` and stores nothing;
- each dataset: its instrument must be in the instrument master and its columns candles, else
  it is reported with the reason and skipped whole; the others still import;
- each row: validated exactly like a fetched bar (`ingest.validated`); rejected rows are
  counted per reason and the rest stored. Every dataset is written in one transaction and
  an import is idempotent (stored bars are kept unless `--overwrite`), so a run interrupted
  half-way is simply run again.
`--dry-run` reads, resolves and validates everything and reports what would be imported.
The CLI talks to PostgreSQL directly as the history service does (it is that service's tool,
like its migrations), so it needs the instrument master loaded (the service, or kitesim).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from mandi.core.errors import InvalidInput, MandiError, NotFound
from services.history import ingest
from services.history.hdf5_reader import Dataset, Override, read_hdf5


def segment_of(filename: str, segment: str = "") -> str:
    """EQUITY / DERIVATIVES as given, else from the file's name (`EQUITY.h5`), else ""."""
    seg = (segment or "").strip().upper()
    if seg:
        if seg not in ("EQUITY", "DERIVATIVES"):
            raise InvalidInput(f"unknown segment {segment!r}; expected EQUITY or DERIVATIVES",
                               field="segment")
        return seg
    stem = Path(filename or "").stem.upper()
    return next((s for s in ("EQUITY", "DERIVATIVES") if stem.startswith(s)), "")


def _report(ds: Dataset) -> dict[str, Any]:
    return {"key": ds.key, "layout": ds.layout, "exchange": ds.exchange, "symbol": ds.symbol,
            "interval": ds.interval, "rows": ds.rows, "imported": 0, "skipped": ds.rows,
            "skipped_reasons": {}, "error": ds.error, "notes": list(ds.notes)}


async def import_hdf5(app: Any, path: str | Path, *, segment: str = "",
                      overrides: dict[str, Override] | None = None, dry_run: bool = False,
                      overwrite: bool = False, filename: str = "") -> dict[str, Any]:
    """Read, resolve, validate and (unless dry_run) store every dataset of the file.
    `app` is a started HistoryApp (pool, master, store, clock)."""
    seg = segment_of(filename or str(path), segment)
    datasets = await asyncio.to_thread(read_hdf5, path, segment=seg, overrides=overrides)
    if not datasets:
        raise InvalidInput("the HDF5 file holds no datasets", field="file")
    await app.instruments_ready()
    now = app.clock.now()
    plan = []
    reports = []
    for ds in datasets:
        rep = _report(ds)
        reports.append(rep)
        if ds.error or ds.frame is None:
            continue
        try:
            inst = await app.master.lookup(ds.exchange, ds.symbol)
        except (NotFound, InvalidInput) as exc:
            rep["error"] = str(exc)
            continue
        valid, invalid, issues = ingest.validated(inst, ds.interval, ds.frame, now=now)
        rep.update(skipped=invalid, skipped_reasons=issues, imported=len(valid))
        plan.append((rep, inst, valid))
    for rep, inst, valid in plan:  # nothing is written before every dataset was read
        if dry_run or not len(valid):
            continue
        written = await app.store.write(inst.instrument_token, rep["interval"], valid,
                                        overwrite=overwrite)
        if written < len(valid):
            rep["notes"].append(f"{len(valid) - written} bars were already stored"
                                + ("" if overwrite else " (kept; --overwrite replaces them)"))
        rep["imported"] = written
    return {"file": Path(filename or str(path)).name, "segment": seg, "dry_run": dry_run,
            "datasets": reports, "rows_imported": sum(r["imported"] for r in reports)}


# --- CLI ------------------------------------------------------------------------------------
def parse_mapping(maps: list[str], skips: list[str]) -> dict[str, Override]:
    """`KEY=EXCHANGE:SYMBOL:INTERVAL` (blank parts are detected as usual) and skipped keys."""
    out: dict[str, Override] = {}
    for text in maps:
        key, sep, value = text.partition("=")
        parts = value.split(":")
        if not sep or not key.strip() or len(parts) > 3:
            raise InvalidInput(f"bad --map {text!r}; expected KEY=EXCHANGE:SYMBOL:INTERVAL",
                               field="mapping")
        parts += [""] * (3 - len(parts))
        out[key.strip()] = Override(exchange=parts[0].strip(), symbol=parts[1].strip(),
                                    interval=parts[2].strip())
    for key in skips:
        out[key.strip()] = Override(skip=True)
    return out


def _print_table(result: dict[str, Any]) -> None:
    print(f"{result['file']}: segment {result['segment'] or '-'}"
          f"{' (dry run)' if result['dry_run'] else ''}")
    for r in result["datasets"]:
        what = f"{r['exchange'] or '?'}:{r['symbol'] or '?'} {r['interval'] or '?'}"
        why = r["error"] or ", ".join(f"{k}: {v}" for k, v in r["skipped_reasons"].items())
        print(f"  {r['key']:<40} {r['layout']:<15} {what:<32} rows {r['rows']:>8} "
              f"imported {r['imported']:>8} skipped {r['skipped']:>8}  {why}")
        for note in r["notes"]:
            print(f"  {'':<40} note: {note}")
    print(f"rows imported: {result['rows_imported']}")


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from mandi.platform.config import load_settings
    from services.history.app import HistoryApp

    app = HistoryApp(load_settings(), workers=False)
    await app.start()
    try:
        return await import_hdf5(app, args.file, segment=args.segment or "",
                                 overrides=parse_mapping(args.map, args.skip),
                                 dry_run=args.dry_run, overwrite=args.overwrite)
    finally:
        await app.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.history.hdf5_import",
                                description="Import an HDF5 candle store into Mandi's history.")
    p.add_argument("file", type=Path)
    p.add_argument("--segment", choices=["EQUITY", "DERIVATIVES"],
                   help="default: from the file name (EQUITY.h5 / DERIVATIVES.h5)")
    p.add_argument("--dry-run", action="store_true", help="report only; store nothing")
    p.add_argument("--overwrite", action="store_true", help="replace bars already stored")
    p.add_argument("--map", action="append", default=[], metavar="KEY=EXCHANGE:SYMBOL:INTERVAL")
    p.add_argument("--skip", action="append", default=[], metavar="KEY")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if not args.file.is_file():
        print(f"error: file: no such file {args.file}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(_run(args))
    except MandiError as exc:
        print(f"error: {getattr(exc, 'field', '') or 'file'}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
