"""Fuzz tests (#16): property-based with hypothesis, one module per input format.

Two profiles, chosen by ``SCISUITE_FUZZ`` (read once, when pytest loads this file):

- ``short`` (default, part of ``make test``): a few hundred derandomised cases per test, so CI
  is reproducible and fast;
- ``full`` (``make fuzz``): at least 10,000 random cases per test; a failure prints the
  ``@reproduce_failure`` blob to replay it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("short", max_examples=200, derandomize=True, **_COMMON)
settings.register_profile("full", max_examples=10_000, **_COMMON)
settings.load_profile(os.environ.get("SCISUITE_FUZZ", "short"))
