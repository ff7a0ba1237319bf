import asyncio
import io
import logging

import orjson

from drafast.app.logs import JSONFormatter
from drafast.runtime import logctx
from drafast.runtime.logctx import RequestIDFilter


async def test_json_lines_carry_fields_and_the_request_id_of_the_call() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RequestIDFilter())
    log = logging.getLogger("drafast.test.logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:

        async def inside_a_call() -> None:
            logctx.request_id.set("abcd1234")
            await asyncio.create_task(asyncio.sleep(0))  # tasks inherit the context
            log.info("claim prepared", extra={"claim": "ns/c (u1)"})

        await asyncio.create_task(inside_a_call())
        log.info("outside")
    finally:
        log.removeHandler(handler)
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "claim prepared" and first["claim"] == "ns/c (u1)"
    assert first["request_id"] == "abcd1234" and first["level"] == "info"
    assert "request_id" not in second
