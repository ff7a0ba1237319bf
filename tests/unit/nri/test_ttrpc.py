"""ttrpc: the fact sheet's byte vectors (TV-A..TV-J) reproduced exactly and parsed back, and
the client/server contracts (stream IDs, status mapping, size caps, protocol errors)."""

from __future__ import annotations

import asyncio

import pytest
from nri_fixture.wire import Wire, frame

from drafast.errors import NriError
from drafast.nri import convert, names
from drafast.nri.proto import api_pb2 as api
from drafast.nri.proto import ttrpc_pb2
from drafast.nri.ttrpc import (
    HEADER,
    MAX_DATA,
    Client,
    Code,
    MessageType,
    ProtocolError,
    RpcError,
    Server,
    encode,
    encode_request,
    encode_response,
    read_message,
)
from drafast.types import ContainerAdjustment, ContainerUpdate


def hx(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", "").replace("|", ""))


def on_wire(conn_id: int, message: bytes) -> bytes:
    return frame(conn_id, message)


# --------------------------------------------------------------------------- encoder vectors

TV_A = hx(
    "00000002 00000047 | 0000003d 00000001 01 00 | 0a1c 6e72692e706b672e6170692e7631616c70686131"
    "2e52756e74696d65 120e 5265676973746572506c7567696e 1a0d 0a07 6472612d637075 1202 3030"
)
TV_B = hx("000000020000000a | 00000000000000010200")
TV_C = hx("000000010000000f | 00000005000000010200 | 120310880c")
TV_D = hx(
    "0000000100000030 | 00000026000000050200 | 1224 0a0b3209120712053203322d33"
    " 12150a0463747231120d0a0b12093207302d312c342d37"
)
TV_E = hx(
    "0000000200000053 | 00000049000000030100 | 0a1c6e72692e706b672e6170692e7631616c706861312e"
    "52756e74696d65 1210557064617465436f6e7461696e657273 1a17"
    " 0a150a0463747231120d0a0b12093207302d312c342d37"
)
TV_F = hx("000000010000001e | 00000014000000050200 | 0a120802120e706c7567696e2072656675736573")
TV_G = hx("000000020000001c | 00000012000000050200 | 0a10080c120c6d6574686f6420426f677573")
TV_H = hx(
    "000000010000005c000000520000000101000a1b6e72692e706b672e6170692e7631616c706861312e506c7567"
    "696e1209436f6e6669677572651a22120a636f6e7461696e6572641a0e76322e312e392d6861726e6573732088"
    "2728d00f20d4b4d4b907"
)
TV_I = hx(
    "00000001000000a2000000980000000501000a1b6e72692e706b672e6170692e7631616c706861312e506c7567"
    "696e120f437265617465436f6e7461696e65721a620a1a0a04706f6430120270301a057569642d302207646566"
    "61756c7412440a04637472321204706f64301a06632d6374723220034209504154483d2f62696e42124452415f"
    "4350555345545f6162633d322d3352005a0b1a090a0012053203302d3720e182c6b907"
)


def test_tv_a_register_plugin_request() -> None:
    req = api.RegisterPluginRequest(plugin_name="dra-cpu", plugin_idx="00")
    msg = encode_request(1, names.RUNTIME_SERVICE, names.REGISTER_PLUGIN, req.SerializeToString())
    assert on_wire(2, msg) == TV_A


def test_tv_b_empty_reply() -> None:
    assert on_wire(2, encode_response(1, b"")) == TV_B


def test_tv_c_configure_reply_with_events_1544() -> None:
    payload = api.ConfigureResponse(events=1544).SerializeToString()
    assert on_wire(1, encode_response(1, payload)) == TV_C


def test_plugin_event_mask_is_0x688() -> None:
    assert names.PLUGIN_EVENTS == 0x688
    assert (
        names.event_mask([api.CREATE_CONTAINER, api.STOP_CONTAINER, api.REMOVE_CONTAINER]) == 1544
    )


def test_tv_d_create_container_reply_from_an_adjustment() -> None:
    adjust = ContainerAdjustment(
        cpuset_cpus="2-3",
        updates=(ContainerUpdate(container_id="ctr1", cpuset_cpus="0-1,4-7"),),
    )
    payload = convert.adjustment_proto("ctr2", adjust).SerializeToString()
    assert on_wire(1, encode_response(5, payload)) == TV_D


def test_tv_e_update_containers_request() -> None:
    # Encoded for the vector only: drafast itself never sends this request.
    req = api.UpdateContainersRequest(
        update=convert.update_protos([ContainerUpdate(container_id="ctr1", cpuset_cpus="0-1,4-7")])
    )
    msg = encode_request(3, names.RUNTIME_SERVICE, names.UPDATE_CONTAINERS, req.SerializeToString())
    assert on_wire(2, msg) == TV_E


def test_tv_f_error_reply_has_a_status_and_no_payload() -> None:
    msg = encode_response(5, b"ignored", RpcError(Code.UNKNOWN, "plugin refuses"))
    assert on_wire(1, msg) == TV_F


def test_payload_vectors() -> None:
    assert api.SynchronizeResponse(more=True).SerializeToString() == hx("1001")
    event = api.StateChangeEvent(event=api.REMOVE_CONTAINER, container=api.Container(id="c1"))
    assert event.SerializeToString() == hx("080b1a040a026331")
    configure = api.ConfigureRequest(
        runtime_name="containerd",
        runtime_version="2.1.9",
        registration_timeout=5000,
        request_timeout=2000,
    )
    assert configure.SerializeToString() == hx("120a636f6e7461696e6572641a05322e312e3920882728d00f")


# --------------------------------------------------------------------------- decoder vectors


async def test_tv_h_captured_configure_request_parses(wire: Wire) -> None:
    run = wire.start(wire.trunk.run())
    wire.peer_writer.write(TV_H)
    msg = await asyncio.wait_for(read_message(wire.trunk.conn(1).reader), 5)
    assert (msg.stream_id, msg.type, msg.flags) == (1, MessageType.REQUEST, 0)
    req = ttrpc_pb2.Request.FromString(msg.data)
    assert (req.service, req.method) == (names.PLUGIN_SERVICE, names.CONFIGURE)
    assert req.timeout_nano == 1999968852
    configure = api.ConfigureRequest.FromString(req.payload)
    assert configure.runtime_name == "containerd"
    assert configure.runtime_version == "v2.1.9-harness"
    assert (configure.registration_timeout, configure.request_timeout) == (5000, 2000)
    assert configure.config == ""
    run.cancel()


async def test_tv_i_captured_create_container_request_parses(wire: Wire) -> None:
    run = wire.start(wire.trunk.run())
    wire.peer_writer.write(TV_I)
    msg = await asyncio.wait_for(read_message(wire.trunk.conn(1).reader), 5)
    assert msg.stream_id == 5
    req = ttrpc_pb2.Request.FromString(msg.data)
    assert req.method == names.CREATE_CONTAINER
    create = api.CreateContainerRequest.FromString(req.payload)
    ref = convert.container_ref(create.container, create.pod)
    assert (ref.id, ref.name) == ("ctr2", "c-ctr2")
    assert (ref.pod_name, ref.pod_uid, ref.pod_namespace) == ("p0", "uid-0", "default")
    assert ref.env == {"PATH": "/bin", "DRA_CPUSET_abc": "2-3"}
    assert ref.cpuset_cpus == "0-7"
    assert ref.state == "running"  # the harness's fake store; containerd sends UNKNOWN here
    # Nothing the runtime sent is lost on a round trip through our messages.
    assert create.SerializeToString() == req.payload
    run.cancel()


# --------------------------------------------------------------------------- server


def request(stream_id: int, service: str, method: str, payload: bytes = b"") -> bytes:
    return frame(2, encode_request(stream_id, service, method, payload))


async def reply(w: Wire) -> tuple[int, ttrpc_pb2.Response]:
    conn_id, length = (
        int.from_bytes(b) for b in (await w.read_exactly(4), await w.read_exactly(4))
    )
    data = await w.read_exactly(length)
    assert conn_id == 2
    n, stream_id, mtype, flags = HEADER.unpack(data[:10])
    assert (n, mtype, flags) == (len(data) - 10, MessageType.RESPONSE, 0)
    return stream_id, ttrpc_pb2.Response.FromString(data[10:])


async def _echo(payload: bytes) -> bytes:
    return payload


async def _refuse(payload: bytes) -> bytes:
    raise RpcError(Code.UNKNOWN, "plugin refuses")


async def _crash(payload: bytes) -> bytes:
    raise KeyError("boom")


@pytest.fixture
async def served(wire: Wire) -> Wire:
    handlers = {
        (names.RUNTIME_SERVICE, "Echo"): _echo,
        (names.RUNTIME_SERVICE, "Refuse"): _refuse,
        (names.RUNTIME_SERVICE, "Crash"): _crash,
    }
    wire.start(wire.trunk.run())
    wire.start(Server(wire.trunk.conn(2), handlers).run())
    return wire


async def test_tv_g_unknown_method_is_code_12(served: Wire) -> None:
    served.peer_writer.write(request(5, names.RUNTIME_SERVICE, "Bogus"))
    head = await served.read_exactly(8)
    body = await served.read_exactly(int.from_bytes(head[4:]))
    assert head + body == TV_G


async def test_unknown_service_is_code_12(served: Wire) -> None:
    served.peer_writer.write(request(1, "x.Y", "Echo"))
    stream_id, resp = await reply(served)
    assert (stream_id, resp.status.code, resp.status.message) == (1, 12, "service x.Y")


async def test_success_carries_no_status(served: Wire) -> None:
    served.peer_writer.write(request(1, names.RUNTIME_SERVICE, "Echo", b"abc"))
    stream_id, resp = await reply(served)
    assert (stream_id, resp.payload, resp.HasField("status")) == (1, b"abc", False)


async def test_a_handler_status_has_no_payload(served: Wire) -> None:
    served.peer_writer.write(request(1, names.RUNTIME_SERVICE, "Refuse"))
    _, resp = await reply(served)
    assert (resp.status.code, resp.status.message, resp.payload) == (2, "plugin refuses", b"")


async def test_an_unexpected_handler_error_is_code_2_naming_its_type(served: Wire) -> None:
    served.peer_writer.write(request(1, names.RUNTIME_SERVICE, "Crash"))
    _, resp = await reply(served)
    assert (resp.status.code, resp.status.message) == (2, "internal error: KeyError")


async def test_even_and_reused_stream_ids_are_refused_on_their_stream(served: Wire) -> None:
    served.peer_writer.write(request(2, names.RUNTIME_SERVICE, "Echo"))
    assert (await reply(served))[0] == 2
    served.peer_writer.write(request(3, names.RUNTIME_SERVICE, "Echo", b"ok"))
    assert (await reply(served))[1].payload == b"ok"
    served.peer_writer.write(request(3, names.RUNTIME_SERVICE, "Echo"))
    stream_id, resp = await reply(served)
    assert (stream_id, resp.status.code) == (3, 3)
    assert resp.status.message == "StreamID cannot be re-used and must increment"


async def test_an_oversized_request_fails_only_its_stream(served: Wire) -> None:
    big = MAX_DATA + 1
    body = HEADER.pack(big, 1, 1, 0) + bytes(big)
    for i in range(0, len(body), 4096):
        served.peer_writer.write(frame(2, body[i : i + 4096]))
    stream_id, resp = await reply(served)
    assert (stream_id, resp.status.code) == (1, Code.RESOURCE_EXHAUSTED)
    served.peer_writer.write(request(3, names.RUNTIME_SERVICE, "Echo", b"still"))
    assert (await reply(served))[1].payload == b"still"


async def test_a_response_on_the_server_conn_is_a_protocol_error(wire: Wire) -> None:
    wire.start(wire.trunk.run())
    server = wire.start(Server(wire.trunk.conn(2), {}).run())
    wire.peer_writer.write(frame(2, encode_response(1)))
    with pytest.raises(ProtocolError, match="ttrpc stream 1: message type 2"):
        await asyncio.wait_for(server, 5)


async def test_garbage_envelope_is_a_protocol_error(wire: Wire) -> None:
    wire.start(wire.trunk.run())
    server = wire.start(Server(wire.trunk.conn(2), {}).run())
    wire.peer_writer.write(frame(2, encode(1, MessageType.REQUEST, b"\xff\xff\xff")))
    with pytest.raises(ProtocolError, match="ttrpc stream 1: undecodable Request"):
        await asyncio.wait_for(server, 5)


# --------------------------------------------------------------------------- client


async def test_client_streams_are_odd_and_increasing(wire: Wire) -> None:
    wire.start(wire.trunk.run())
    client = Client(wire.trunk.conn(2), timeout=5)
    wire.start(client.run())
    seen = []
    for expected in (1, 3, 5):
        call = asyncio.create_task(client.call("s", "m", b"p"))
        head = await wire.read_exactly(8)
        data = await wire.read_exactly(int.from_bytes(head[4:]))
        _, stream_id, mtype, _ = HEADER.unpack(data[:10])
        req = ttrpc_pb2.Request.FromString(data[10:])
        assert (stream_id, mtype, req.payload) == (expected, 1, b"p")
        assert req.timeout_nano == 5_000_000_000
        seen.append(stream_id)
        wire.peer_writer.write(frame(2, encode_response(stream_id, b"r%d" % stream_id)))
        assert await call == b"r%d" % stream_id
    assert seen == [1, 3, 5]


async def test_client_raises_the_peers_status(wire: Wire) -> None:
    wire.start(wire.trunk.run())
    client = Client(wire.trunk.conn(2), timeout=5)
    wire.start(client.run())
    call = asyncio.create_task(client.call("s", "m", b""))
    await wire.read_exactly(8 + 10)
    wire.peer_writer.write(frame(2, encode_response(1, error=RpcError(12, "method m"))))
    with pytest.raises(RpcError, match="method m") as err:
        await call
    assert err.value.code == 12


async def test_client_times_out_naming_the_stream(wire: Wire) -> None:
    wire.start(wire.trunk.run())
    client = Client(wire.trunk.conn(2), timeout=5)
    wire.start(client.run())
    with pytest.raises(NriError, match=r"ttrpc stream 1: s/m timed out"):
        await client.call("s", "m", b"", deadline=0.05)


async def test_pending_calls_fail_when_the_trunk_ends(wire: Wire) -> None:
    wire.start(wire.trunk.run())
    client = Client(wire.trunk.conn(2), timeout=5)
    reader = wire.start(client.run())
    call = asyncio.create_task(client.call("s", "m", b""))
    await wire.read_exactly(8)
    wire.peer_writer.close()
    with pytest.raises(NriError, match="trunk closed by peer"):
        await asyncio.wait_for(call, 5)
    with pytest.raises(NriError):
        await reader


async def test_client_refuses_to_send_more_than_4_mib(wire: Wire) -> None:
    client = Client(wire.trunk.conn(2), timeout=5)
    with pytest.raises(RpcError, match="exceeds the limit") as err:
        await client.call("s", "m", bytes(MAX_DATA))
    assert err.value.code == Code.RESOURCE_EXHAUSTED
    assert wire.trunk.frames_sent == 0
