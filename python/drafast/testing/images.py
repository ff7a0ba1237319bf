"""The image references of the real test node's offline images.

The archives themselves are written by ``tools/oci_image.py`` (a stdlib-only build helper run by
``tests/e2e/tools/node-bins.sh``); it spells the same references, and
``tests/unit/tools/test_oci_image.py`` checks that the two agree.
"""

from __future__ import annotations

__all__ = ["PAUSE_IMAGE", "TESTBOX_IMAGE"]

#: The sandbox image reference containerd is configured with (never pulled: imported).
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
#: The image test pods run (``imagePullPolicy: Never``).
TESTBOX_IMAGE = "localhost/drafast/testbox:1"
