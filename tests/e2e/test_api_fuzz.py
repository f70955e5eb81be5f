"""Every route of the gateway's OpenAPI document fuzzed with schemathesis against the whole
platform (`make run`'s supervisor on free ports and a fresh database), as nobody, a viewer, a
trader and an admin: no answer is a 5xx, and no refused request (4xx) writes a row
(mandi/testing/api_fuzz.py). `make fuzz` runs the same with ten times the examples (over
10,000 requests); this pass keeps `make test` short."""

from __future__ import annotations

import pytest

from mandi.testing.fuzz_platform import run_fuzz_platform

pytestmark = [pytest.mark.e2e, pytest.mark.heavy]
EXAMPLES = 3  # per operation and identity


def test_every_route_fuzzed_as_four_identities_no_5xx_and_refused_requests_write_nothing(
    tmp_path,
) -> None:
    result = run_fuzz_platform(EXAMPLES, str(tmp_path / "platform.log"))
    print(f"fuzz: {result.summary()}")
    assert result.operations >= 90  # the whole document, not a part of it
    assert result.requests >= result.operations * 4 * EXAMPLES * 0.9
    assert not result.server_errors, "\n".join(result.server_errors[:20])
    assert not result.refused_writes, "\n".join(result.refused_writes[:20])
    # the watch is live: accepted requests (users, grants, orders, strategies...) wrote rows
    assert result.accepted_writes > 0
    assert result.by_status[401] > 0 and result.by_status[403] > 0 and result.by_status[400] > 0
