"""Hypothesis profiles for the fuzz suite.

* ``ci`` (selected when ``CI`` is set, as ``.ci/run`` does): derandomized, so
  a CI run is reproducible and never flaky; no example database; no deadline
  (a shared runner's timing says nothing about the compiler).
* ``dev`` (default): random exploration, no deadline either.

Each test sets its own ``max_examples`` so the whole module stays well under
a minute; ``HYPOTHESIS_PROFILE=deep`` multiplies the examples by ten for a
longer local hunt.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_COMMON)
settings.register_profile("dev", **_COMMON)
settings.register_profile("deep", **_COMMON)

_ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _ci else "dev"))

