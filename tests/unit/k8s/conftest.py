"""Shared fixtures of the drafast.k8s unit tests."""

from collections.abc import AsyncIterator

import pytest

from drafast.testing.fakeapi import FakeAPIServer


@pytest.fixture
async def server() -> AsyncIterator[FakeAPIServer]:
    """An in-memory API server over real HTTP (a test module may override it to seed objects)."""
    async with FakeAPIServer() as s:
        yield s
