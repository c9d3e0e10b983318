"""Test-wide settings.

Hypothesis draws its examples from a fixed seed (``derandomize``), so a run of the suite is
reproducible: CI and a developer see the same examples, and a statistical property (a Monte
Carlo error ratio, say) cannot turn red on an unlucky draw in one run and pass in the next.
``HYPOTHESIS_PROFILE=explore`` draws fresh examples instead, for hunting new failures.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
