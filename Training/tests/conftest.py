import os
import sys

import pytest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="session")
def real_data():
    """../shared/data/real-head-ct (ICHTRIAGE_SHARED_DATA overrides); skip with the reason if absent."""
    d = os.environ.get("ICHTRIAGE_SHARED_DATA") or os.path.join(ROOT, "..", "shared", "data", "real-head-ct")
    if not os.path.isdir(d):
        pytest.skip(f"real exams not found at {d} (set ICHTRIAGE_SHARED_DATA)")
    return d
