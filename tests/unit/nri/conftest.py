from collections.abc import AsyncIterator

import pytest
from nri_fixture.wire import Wire, open_wire


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    async with open_wire() as w:
        yield w
