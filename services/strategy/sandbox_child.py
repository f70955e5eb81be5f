"""The sandboxed side of a custom strategy: run by `sandbox.py` as `python -I sandbox_child.py`.

This file is trusted code that runs user source, so it imports nothing from the project (under
`-I` the project is not on sys.path anyway) but its sibling `sandbox_jail.py`, and locks itself
down with that before touching the source: an unprivileged user, rlimits and a seccomp filter
that leaves no file, socket, process or signal call (see sandbox_jail). The restricted builtins
and import allow-list below are a convenience (clear messages for honest mistakes), not a
barrier: `random._os` reaches the real `os`, and the kernel still says no.

Wire protocol on stdin/stdout: frames of a 4-byte big-endian length and a payload. Requests are
JSON objects; a `bars` request is followed by six binary frames (ts int64 ms, open, high, low,
close float64, volume int64). Replies are JSON objects; a `bars` reply is followed by one binary
frame of int8 target positions (-1 short, 0 flat, 1 long), one per bar.

User API: the source defines a class `Strategy`. It is constructed with the parameter dict
(`Strategy(params)`, or `Strategy()` when __init__ takes no argument) and `on_bar(bar, ctx)` is
called once per bar; it returns the target position (1, 0, -1) or None to keep the current one.
`bar` has ts_ms, open, high, low, close, volume; `ctx` has the arrays open/high/low/close/volume
up to and including this bar, `index`, `position`, `params` and `symbol`.
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import os
import struct
import sys
import traceback

ALLOWED_MODULES = frozenset({
    "math", "cmath", "statistics", "collections", "itertools", "functools", "operator",
    "dataclasses", "typing", "enum", "decimal", "fractions", "heapq", "bisect", "random",
    "numpy", "datetime",
})
BLOCKED_BUILTINS = ("open", "exec", "eval", "compile", "input", "breakpoint", "exit", "quit",
                    "help", "globals", "vars", "memoryview", "__loader__", "__spec__")


def _jail():
    """`sandbox_jail.py`, loaded from beside this file: under `-I` it is not importable."""
    spec = importlib.util.spec_from_file_location(
        "sandbox_jail", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     "sandbox_jail.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_exact(stream, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError
    return data


def _read_frame(stream) -> bytes:
    (n,) = struct.unpack(">I", _read_exact(stream, 4))
    return _read_exact(stream, n)


def _write_frame(stream, payload: bytes) -> None:
    stream.write(struct.pack(">I", len(payload)))
    stream.write(payload)


def _reply(stream, obj: dict, *extra: bytes) -> None:
    _write_frame(stream, json.dumps(obj).encode())
    for blob in extra:
        _write_frame(stream, blob)
    stream.flush()


def _safe_import(name, globals=None, locals=None, fromlist=(), level=0):
    root = name.split(".")[0]
    if level != 0 or root not in ALLOWED_MODULES:
        raise ImportError(f"import of {name!r} is not allowed in a custom strategy")
    return __import__(name, globals, locals, fromlist, level)


def _restricted_builtins() -> dict:
    allowed = {k: v for k, v in vars(builtins).items() if k not in BLOCKED_BUILTINS}
    allowed["__import__"] = _safe_import
    return allowed


class Bar:
    __slots__ = ("close", "high", "low", "open", "ts_ms", "volume")

    def __init__(self, ts_ms, o, h, low, c, v):
        self.ts_ms, self.open, self.high, self.low, self.close, self.volume = ts_ms, o, h, low, c, v


class Context:
    def __init__(self, params: dict, symbol: str) -> None:
        self.params = params
        self.symbol = symbol
        self.position = 0
        self.index = -1
        self._arrays: dict = {}

    def __getattr__(self, name: str):
        arrays = self.__dict__.get("_arrays", {})
        if name in arrays:
            return arrays[name][: self.index + 1]
        raise AttributeError(name)


def _load(code: str, params: dict):
    namespace = {"__builtins__": _restricted_builtins(), "__name__": "custom_strategy"}
    exec(compile(code, "<custom strategy>", "exec"), namespace)
    cls = namespace.get("Strategy")
    if not isinstance(cls, type):
        raise ValueError("the source must define a class named Strategy")
    if not callable(getattr(cls, "on_bar", None)):
        raise ValueError("class Strategy must define on_bar(self, bar, ctx)")
    try:
        return cls(params)
    except TypeError:
        return cls()


def _error(exc: BaseException) -> dict:
    if isinstance(exc, MemoryError):
        return {"ok": False, "kind": "memory", "error": "memory limit exceeded"}
    if isinstance(exc, RecursionError):
        return {"ok": False, "kind": "code", "error": "recursion too deep"}
    tb = traceback.extract_tb(exc.__traceback__)
    where = next((f"line {f.lineno}: " for f in reversed(tb)
                  if f.filename == "<custom strategy>"), "")
    if isinstance(exc, SyntaxError) and exc.filename == "<custom strategy>":
        where = f"line {exc.lineno}: "
    return {"ok": False, "kind": "code", "error": f"{where}{type(exc).__name__}: {exc}"}


def main() -> None:
    cpu_s, mem_bytes = int(sys.argv[1]), int(sys.argv[2])
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    # User prints must not corrupt the protocol: fd 0 and 1 now point at /dev/null.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    import numpy as np  # before the limits: numpy's import maps more than user code needs

    # Every module user code may import is imported now: after the lock-down no file can be
    # opened, so an import then could not read its source.
    for name in [*sorted(ALLOWED_MODULES), "numpy.random", "numpy.fft", "numpy.polynomial"]:
        __import__(name)

    jail = _jail()
    try:
        jail.lock_down(cpu_s, mem_bytes)
    except Exception as exc:  # never run user code outside the jail
        _reply(proto_out, {"ok": False, "kind": "jail",
                           "error": f"the sandbox could not isolate itself: {exc}"})
        return
    strategy = None
    ctx = None
    while True:
        try:
            req = json.loads(_read_frame(proto_in))
        except EOFError:
            return
        try:
            if req["op"] == "init":
                ctx = Context(req.get("params") or {}, req.get("symbol", ""))
                strategy = _load(req["code"], ctx.params)
                _reply(proto_out, {"ok": True})
            elif req["op"] == "reset":
                ctx = Context(ctx.params, req.get("symbol", ""))
                ctx._arrays = {}
                _reply(proto_out, {"ok": True})
            elif req["op"] == "bars":
                blobs = [_read_frame(proto_in) for _ in range(6)]
                new = {
                    "ts_ms": np.frombuffer(blobs[0], dtype=np.int64),
                    "open": np.frombuffer(blobs[1], dtype=np.float64),
                    "high": np.frombuffer(blobs[2], dtype=np.float64),
                    "low": np.frombuffer(blobs[3], dtype=np.float64),
                    "close": np.frombuffer(blobs[4], dtype=np.float64),
                    "volume": np.frombuffer(blobs[5], dtype=np.int64),
                }
                start = 0 if not ctx._arrays else len(ctx._arrays["close"])
                ctx._arrays = new if not ctx._arrays else {
                    k: np.concatenate([ctx._arrays[k], v]) for k, v in new.items()}
                out = np.zeros(len(new["close"]), dtype=np.int8)
                for j in range(len(new["close"])):
                    i = start + j
                    ctx.index = i
                    bar = Bar(int(new["ts_ms"][j]), float(new["open"][j]),
                              float(new["high"][j]), float(new["low"][j]),
                              float(new["close"][j]), int(new["volume"][j]))
                    target = strategy.on_bar(bar, ctx)
                    if target is not None:
                        if target not in (-1, 0, 1):
                            raise ValueError(f"on_bar returned {target!r}; expected 1, 0, -1 "
                                             "or None")
                        ctx.position = int(target)
                    out[j] = ctx.position
                _reply(proto_out, {"ok": True}, out.tobytes())
            else:
                _reply(proto_out, {"ok": False, "kind": "protocol",
                                   "error": f"unknown op {req['op']!r}"})
        except BaseException as exc:
            try:
                _reply(proto_out, _error(exc))
            except MemoryError:
                os._exit(3)
            return  # one failure ends the run; the parent fails the job with the reason


if __name__ == "__main__":
    main()
