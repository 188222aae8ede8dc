"""Hypothesis profiles for the lifecycle state machine, and the Lambda asset on sys.path.

``make test`` runs the ``ci`` profile (derandomized, bounded to about a minute on one core);
``make chaos`` sets ``SEQSERVE_HYPOTHESIS_PROFILE=chaos``: many more, longer, random examples
(``SEQSERVE_CHAOS_EXAMPLES``, default 400).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "lambdas", ROOT / "tests" / "unit" / "lambdas"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
    "database": None,
}
# No shrinking in make test: a failure prints every step it took (note()), and shrinking a stateful
# run against the embedded AWS can take minutes.
settings.register_profile(
    "ci",
    max_examples=6,
    stateful_step_count=30,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    **COMMON,
)
settings.register_profile(
    "chaos",
    max_examples=int(os.environ.get("SEQSERVE_CHAOS_EXAMPLES", "400")),
    stateful_step_count=80,
    **COMMON,
)
settings.load_profile(os.environ.get("SEQSERVE_HYPOTHESIS_PROFILE", "ci"))
