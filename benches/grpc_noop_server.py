"""A DRA plugin on grpc.aio + uvloop that does nothing: every claim of every call answered
without error. benches/test_grpc_floor.py measures grpcio's own cost per call with it, under the
gRPC settings drafast's processes get (:mod:`drafast.runtime.grpcenv`).

    python benches/grpc_noop_server.py /path/to/dra.sock    # serves until SIGTERM
"""

from __future__ import annotations

import signal
import sys

from drafast.runtime import grpcenv

grpcenv.apply()  # before grpc is imported, as the `drafast` command does

import asyncio  # noqa: E402

import grpc  # noqa: E402
import uvloop  # noqa: E402

from drafast.kubelet.proto.dra.v1 import api_pb2 as v1  # noqa: E402

SERVICE = "k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin"


async def prepare(req: v1.NodePrepareResourcesRequest, _: object) -> object:
    resp = v1.NodePrepareResourcesResponse()
    for claim in req.claims:
        resp.claims[claim.uid].SetInParent()
    return resp


async def unprepare(req: v1.NodeUnprepareResourcesRequest, _: object) -> object:
    resp = v1.NodeUnprepareResourcesResponse()
    for claim in req.claims:
        resp.claims[claim.uid].SetInParent()
    return resp


async def serve(socket: str) -> None:
    server = grpc.aio.server()
    methods = {
        "NodePrepareResources": grpc.unary_unary_rpc_method_handler(
            prepare,
            request_deserializer=v1.NodePrepareResourcesRequest.FromString,
            response_serializer=v1.NodePrepareResourcesResponse.SerializeToString,
        ),
        "NodeUnprepareResources": grpc.unary_unary_rpc_method_handler(
            unprepare,
            request_deserializer=v1.NodeUnprepareResourcesRequest.FromString,
            response_serializer=v1.NodeUnprepareResourcesResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, methods)])
    server.add_insecure_port(f"unix://{socket}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(None)


if __name__ == "__main__":
    uvloop.run(serve(sys.argv[1]))
