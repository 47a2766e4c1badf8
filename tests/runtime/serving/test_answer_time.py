"""The answer's ``at``: ISO 8601 in UTC with a ``Z``, exact to the microsecond
(the date and time are formatted once per second and shared)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from runtime.serving.predictor import _iso

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def test_at_is_the_exact_utc_time_whatever_the_order_of_calls() -> None:
    rng = random.Random(7)
    times = [0, 1, 999_999, 1_000_000, 1_700_000_000_000_000, 1_700_000_000_123_456, -1, -1_500_000]
    times += [rng.randrange(-10**15, 4 * 10**15) for _ in range(20_000)]
    times += [1_800_000_000_000_000 + rng.randrange(0, 3_000_000) for _ in range(2_000)]  # many within a second
    for us in times:
        assert _iso(us) == (EPOCH + timedelta(microseconds=us)).isoformat().replace("+00:00", "Z"), us
    assert _iso(1_700_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert _iso(1_700_000_000_000_001) == "2023-11-14T22:13:20.000001Z"
