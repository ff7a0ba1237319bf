"""Generated protobuf messages for NRI and ttrpc (regenerate with ``make proto``).

Only :mod:`drafast.nri` imports these. Service stubs are not generated: ttrpc is not gRPC, and
:mod:`drafast.nri.ttrpc` dispatches by service and method name itself.
"""
