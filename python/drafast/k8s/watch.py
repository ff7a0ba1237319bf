"""Decoding a watch stream: newline-delimited JSON events.

Lines are split by hand instead of with ``StreamReader.readline``, which fails on lines longer
than its buffer -- and one event carries a whole object (a full ResourceSlice can be ~1 MiB).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable

import orjson

from drafast.types import JSON

BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


async def iter_lines(chunks: AsyncIterable[bytes]) -> AsyncGenerator[bytes, None]:
    """Non-empty lines of a byte stream, however it is chunked; a last unterminated line too."""
    buf = bytearray()
    async for chunk in chunks:
        start = len(buf)
        buf += chunk
        while (end := buf.find(b"\n", start)) >= 0:
            line = bytes(buf[:end]).strip()
            del buf[: end + 1]
            start = 0
            if line:
                yield line
    if line := bytes(buf).strip():
        yield line


def decode_event(line: bytes) -> JSON | None:
    """One watch event ``{"type": ..., "object": {...}}``, or None if the line is not one."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("object"), dict)
    ):
        return None
    return event


def object_version(obj: JSON) -> str | None:
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return rv if isinstance(rv, str) and rv else None
