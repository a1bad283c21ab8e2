from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# "dev" is the default for a quick local run; CI sets HYPOTHESIS_PROFILE=ci for a
# deterministic, bounded run that fits the CI time budget on 2 cores.
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("thorough", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
