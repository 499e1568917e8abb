"""One Prefect test harness for the whole session (it takes ~6 s to start), heartbeats off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    # A sync flow run otherwise waits ~1 s joining its heartbeat thread (see README, testing).
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), prefect_test_harness():
        yield
