"""Record every proto field's number in proto/fields.lock (`python -m scripts.proto_lock`).

tests/unit/proto/test_contracts.py compares the live descriptors against this file: a field
whose number changed, or a number reused for another field, fails the build. Adding fields only
appends to the lock.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from google.protobuf.descriptor import Descriptor

LOCK = Path(__file__).resolve().parent.parent / "proto" / "fields.lock"


def _walk(desc: Descriptor, out: dict[str, int]) -> None:
    for f in desc.fields:
        out[f"{desc.full_name}.{f.name}"] = f.number
    for nested in desc.nested_types:
        _walk(nested, out)


def current_fields() -> dict[str, int]:
    from mandi.v1 import common_pb2, execution_pb2, history_pb2, marketdata_pb2, strategy_pb2

    out: dict[str, int] = {}
    for mod in (common_pb2, history_pb2, marketdata_pb2, strategy_pb2, execution_pb2):
        for msg in mod.DESCRIPTOR.message_types_by_name.values():
            _walk(msg, out)
        for enum in mod.DESCRIPTOR.enum_types_by_name.values():
            for v in enum.values:
                out[f"{enum.full_name}.{v.name}"] = v.number
    return dict(sorted(out.items()))


def main() -> int:
    locked = json.loads(LOCK.read_text()) if LOCK.exists() else {}
    merged = {**current_fields(), **locked}  # never rewrite an existing entry
    LOCK.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")
    print(f"proto/fields.lock: {len(merged)} fields")
    return 0


if __name__ == "__main__":
    sys.exit(main())
