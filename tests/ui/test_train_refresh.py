"""The Train page's job view refreshes itself only while the job can still change by itself: idle costs nothing."""

from __future__ import annotations

import pytest

from ui.train import REFRESH_S, refresh_every


@pytest.mark.parametrize(
    "status,every",
    [
        ("validating_files", REFRESH_S),
        ("queued", REFRESH_S),
        ("running", REFRESH_S),
        ("paused", None),
        ("succeeded", None),
        ("failed", None),
        ("cancelled", None),
    ],
)
def test_the_job_view_refreshes_only_while_the_job_is_active(status, every):
    assert refresh_every(status) == every
