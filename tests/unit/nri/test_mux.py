"""The mux trunk: framing, reassembly, both size limits, unknown conns, atomic frames."""

from __future__ import annotations

import asyncio

import pytest
from nri_fixture.wire import Wire, frame

from drafast.errors import NriError
from drafast.nri.mux import HEADER, MAX_RECV_PAYLOAD, MAX_SEND_PAYLOAD, MuxError


async def test_small_message_is_one_frame(wire: Wire) -> None:
    wire.trunk.send(2, b"hello")
    await wire.trunk.drain()
    assert await wire.read_exactly(13) == bytes.fromhex("0000000200000005") + b"hello"


async def test_tv_j_a_5066_byte_message_goes_out_as_4096_plus_970(wire: Wire) -> None:
    data = bytes(range(256)) * 19 + bytes(202)
    assert len(data) == 5066
    wire.trunk.send(2, data)
    frames = await wire.read_frames(len(data))
    assert [(c, len(p)) for c, p in frames] == [(2, 4096), (2, 970)]
    assert b"".join(p for _, p in frames) == data


async def test_no_frame_payload_exceeds_4096(wire: Wire) -> None:
    data = bytes(3 * MAX_SEND_PAYLOAD + 1)
    wire.trunk.send(1, data)
    frames = await wire.read_frames(len(data))
    assert [len(p) for _, p in frames] == [4096, 4096, 4096, 1]
    assert wire.trunk.largest_frame_sent == MAX_SEND_PAYLOAD


async def test_exactly_4096_is_one_frame(wire: Wire) -> None:
    wire.trunk.send(1, bytes(4096))
    assert [len(p) for _, p in await wire.read_frames(4096)] == [4096]


async def test_messages_of_two_conns_never_interleave_inside_a_frame(wire: Wire) -> None:
    a, b = b"A" * 9000, b"B" * 5000
    wire.trunk.send(1, a)
    wire.trunk.send(2, b)
    frames = await wire.read_frames(len(a) + len(b))
    assert [c for c, _ in frames] == [1, 1, 1, 2, 2]
    assert all(set(p) == ({65} if c == 1 else {66}) for c, p in frames)


async def test_reassembles_a_stream_across_frames_and_conns(wire: Wire) -> None:
    run = wire.start(wire.trunk.run())
    wire.peer_writer.write(frame(1, b"hel") + frame(2, b"xy") + frame(1, b"lo") + frame(1, b""))
    assert await asyncio.wait_for(wire.trunk.conn(1).reader.readexactly(5), 5) == b"hello"
    assert await asyncio.wait_for(wire.trunk.conn(2).reader.readexactly(2), 5) == b"xy"
    run.cancel()


async def test_accepts_a_go_style_big_frame(wire: Wire) -> None:
    # A Go sender's second frame of a 4 MiB Synchronize: far above our own send limit.
    run = wire.start(wire.trunk.run())
    big = bytes(4 << 20)
    wire.peer_writer.write(frame(1, big[:4096]) + frame(1, big[4096:]))
    got = await asyncio.wait_for(wire.trunk.conn(1).reader.readexactly(len(big)), 5)
    assert len(got) == len(big)
    run.cancel()


async def test_frames_for_unknown_conns_are_dropped(wire: Wire) -> None:
    run = wire.start(wire.trunk.run())
    wire.peer_writer.write(frame(0, b"zero") + frame(7, b"seven") + frame(1, b"ok"))
    assert await asyncio.wait_for(wire.trunk.conn(1).reader.readexactly(2), 5) == b"ok"
    run.cancel()


async def test_an_oversized_frame_is_refused_without_reading_it(wire: Wire) -> None:
    run = wire.start(wire.trunk.run())
    wire.peer_writer.write(HEADER.pack(1, MAX_RECV_PAYLOAD + 1))
    with pytest.raises(MuxError, match=r"mux conn 1: frame of 16777217 bytes exceeds"):
        await asyncio.wait_for(run, 5)
    assert wire.trunk.closed
    # Whoever reads a conn learns the same one-line reason.
    with pytest.raises(MuxError):
        await wire.trunk.conn(2).reader.readexactly(1)
    assert await wire.peer_reader.read() == b""  # the peer sees the socket closed


async def test_eof_ends_the_trunk_and_every_conn(wire: Wire) -> None:
    run = wire.start(wire.trunk.run())
    wire.peer_writer.close()
    with pytest.raises(NriError, match="trunk closed by peer"):
        await asyncio.wait_for(run, 5)
    with pytest.raises(NriError):
        await wire.trunk.conn(1).reader.readexactly(1)


async def test_eof_inside_a_header_is_a_framing_error(wire: Wire) -> None:
    run = wire.start(wire.trunk.run())
    wire.peer_writer.write(b"\x00\x00\x00")
    wire.peer_writer.close()
    with pytest.raises(MuxError, match="truncated frame header"):
        await asyncio.wait_for(run, 5)


async def test_sending_on_a_closed_trunk_names_the_conn(wire: Wire) -> None:
    wire.trunk.close()
    with pytest.raises(NriError, match="mux conn 2: trunk is closed"):
        wire.trunk.send(2, b"x")
