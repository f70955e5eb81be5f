"""Write the gateway's OpenAPI document to web/src/lib/api/openapi.json, the committed snapshot
the web UI's API types are generated from (`npm run api-types` → schema.d.ts). A test compares
the snapshot with the live app's document, so a changed API without a new snapshot fails.

    .venv/bin/python -m scripts.openapi_snapshot          # rewrite the snapshot
    .venv/bin/python -m scripts.openapi_snapshot --check  # exit 1 when it is stale"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).resolve().parents[1] / "web" / "src" / "lib" / "api" / "openapi.json"


def live_document() -> dict[str, Any]:
    from mandi.platform.config import load_settings
    from services.gateway.app import create_app

    return create_app(load_settings({})).openapi()  # defaults: the same on every machine


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(live_document())
    if "--check" in argv:
        if not SNAPSHOT.is_file() or SNAPSHOT.read_text() != text:
            print(f"{SNAPSHOT} is stale: run .venv/bin/python -m scripts.openapi_snapshot",
                  file=sys.stderr)
            return 1
        return 0
    SNAPSHOT.write_text(text)
    print(f"wrote {SNAPSHOT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
