import asyncio

import pytest

from drafast.app.lifecycle import running
from drafast.errors import ConfigError


class Part:
    def __init__(self, name: str, log: list[str], *, fail_start: bool = False) -> None:
        self.name, self.log, self.fail_start = name, log, fail_start

    async def start(self) -> None:
        if self.fail_start:
            raise ConfigError(f"{self.name}: cannot start")
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


class Looper(Part):
    def __init__(self, name: str, log: list[str], *, fail_after: float | None = None) -> None:
        super().__init__(name, log)
        self.fail_after = fail_after

    async def run(self) -> None:
        self.log.append(f"run {self.name}")
        try:
            if self.fail_after is not None:
                await asyncio.sleep(self.fail_after)
                raise ConfigError(f"{self.name}: lost the lease")
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.log.append(f"cancel {self.name}")
            raise


async def test_start_in_order_stop_in_reverse() -> None:
    log: list[str] = []
    async with running([Part("a", log), Looper("b", log), Part("c", log)]):
        await asyncio.sleep(0)
        log.append("serving")
    assert log == [
        "start a",
        "start b",
        "start c",
        "run b",
        "serving",
        "cancel b",
        "stop c",
        "stop b",
        "stop a",
    ]


async def test_a_failed_start_stops_what_started_and_raises_the_error_itself() -> None:
    log: list[str] = []
    with pytest.raises(ConfigError, match="c: cannot start"):
        async with running([Part("a", log), Looper("b", log), Part("c", log, fail_start=True)]):
            raise AssertionError("not reached")
    assert log[-2:] == ["stop b", "stop a"]
    assert "start c" not in log and "stop c" not in log


async def test_a_failing_loop_ends_the_block_and_everything_stops() -> None:
    log: list[str] = []
    with pytest.raises(ConfigError, match="lease: lost the lease"):
        async with running([Part("a", log), Looper("lease", log, fail_after=0.01)]):
            await asyncio.sleep(30)  # cancelled when the loop fails
    assert log[-2:] == ["stop lease", "stop a"]


async def test_an_error_in_the_block_is_raised_as_itself() -> None:
    log: list[str] = []
    with pytest.raises(KeyError):
        async with running([Looper("b", log)]):
            raise KeyError("x")
    assert log[-1] == "stop b"
