"""Process plumbing shared by every layer: group commits (``batching``), the native background
I/O worker (``iojobs``), the Prometheus metrics registry (``metrics``), the log context
(``logctx``), the heap trim after bursts of calls (``memtrim``) and the gRPC core settings set
before grpc is imported (``grpcenv``).

Imports only drafast.errors, drafast.types and drafast._native: never a driver, the plugin core or
an edge. Nothing here is a module-level singleton; ``drafast.app`` builds one of each and passes
it in.
"""
