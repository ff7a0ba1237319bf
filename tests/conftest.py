"""Fixtures every suite may use."""

from collections.abc import Iterator

import pytest

from drafast.runtime.iojobs import IoJobs


@pytest.fixture(scope="session")
def io_jobs() -> Iterator[IoJobs]:
    """One native I/O worker for the session, as ``drafast.app`` builds one per process."""
    jobs = IoJobs("test-io", 3)
    yield jobs
    jobs.close()
