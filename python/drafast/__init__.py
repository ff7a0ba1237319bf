"""drafast: a Kubernetes DRA kubelet-plugin toolkit.

Public contracts live in :mod:`drafast.types` and :mod:`drafast.driver`; the composition root is
:mod:`drafast.app`; driver authors test with :mod:`drafast.testing`.
"""

__version__ = "0.1.0"
