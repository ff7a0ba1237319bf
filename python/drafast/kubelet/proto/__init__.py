"""Generated protobuf messages for the kubelet APIs (regenerate with ``make proto``).

Only :mod:`drafast.kubelet` imports these. Service stubs are not generated: method paths are
constants in :mod:`drafast.kubelet.methods`.
"""
