"""The generated stubs match the .proto files, and no field was ever renumbered."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from scripts.proto_lock import LOCK, current_fields

ROOT = Path(__file__).resolve().parents[3]


def test_generated_stubs_when_regenerated_are_identical(tmp_path: Path) -> None:
    protos = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "proto/mandi/v1").glob("*.proto"))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", "proto", f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}", *protos],
        cwd=ROOT, check=True,
    )
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*.py*")}
    assert fresh, "protoc generated nothing"
    stale = [str(rel) for rel, data in fresh.items()
             if not (ROOT / rel).exists() or (ROOT / rel).read_bytes() != data]
    extra = [p.name for p in (ROOT / "mandi/v1").glob("*_pb2*.py*")
             if p.relative_to(ROOT) not in fresh]
    stale += extra
    assert not stale, f"generated stubs are stale, run `make proto`: {stale}"


def test_fields_when_compared_to_lock_are_never_renumbered() -> None:
    locked: dict[str, int] = json.loads(LOCK.read_text())
    live = current_fields()
    changed = {k: (v, live[k]) for k, v in locked.items() if k in live and live[k] != v}
    assert not changed, f"field numbers changed (old, new): {changed}"
    # a number once used by a field of a message must not be taken by a different field
    used: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for key, num in {**locked, **live}.items():
        owner, name = key.rsplit(".", 1)
        used[owner][num].add(name)
    reused = {o: {n: names} for o, nums in used.items() for n, names in nums.items()
              if len(names) > 1}
    assert not reused, f"field numbers reused for different fields: {reused}"
    new = sorted(set(live) - set(locked))
    assert not new, f"fields missing from proto/fields.lock (python -m scripts.proto_lock): {new}"
