"""gRPC service names, method paths and the version labels advertised at registration.

The full service names come from the upstream proto packages and are what goes on the wire. The
registration labels (``v1.DRAPlugin``) are only labels: ``/v1.DRAPlugin/...`` is not a real path.
"""

from __future__ import annotations

from typing import Final, Literal

DRAVersion = Literal["v1", "v1beta1"]
HealthVersion = Literal["v1", "v1alpha1"]

PLUGIN_TYPE: Final = "DRAPlugin"
"""``PluginInfo.type`` for DRA drivers."""

# Full gRPC service names (proto package + service).
DRA_V1_SERVICE: Final = "k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin"
DRA_V1BETA1_SERVICE: Final = "k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin"
HEALTH_V1_SERVICE: Final = "v1.DRAResourceHealth"
HEALTH_V1ALPHA1_SERVICE: Final = "v1alpha1.DRAResourceHealth"
REGISTRATION_SERVICE: Final = "pluginregistration.Registration"

# Method names.
PREPARE: Final = "NodePrepareResources"
UNPREPARE: Final = "NodeUnprepareResources"
WATCH_RESOURCES: Final = "NodeWatchResources"
GET_INFO: Final = "GetInfo"
NOTIFY_REGISTRATION_STATUS: Final = "NotifyRegistrationStatus"

# Full method paths, as a client calls them.
DRA_V1_PREPARE: Final = f"/{DRA_V1_SERVICE}/{PREPARE}"
DRA_V1_UNPREPARE: Final = f"/{DRA_V1_SERVICE}/{UNPREPARE}"
DRA_V1BETA1_PREPARE: Final = f"/{DRA_V1BETA1_SERVICE}/{PREPARE}"
DRA_V1BETA1_UNPREPARE: Final = f"/{DRA_V1BETA1_SERVICE}/{UNPREPARE}"
HEALTH_V1_WATCH: Final = f"/{HEALTH_V1_SERVICE}/{WATCH_RESOURCES}"
HEALTH_V1ALPHA1_WATCH: Final = f"/{HEALTH_V1ALPHA1_SERVICE}/{WATCH_RESOURCES}"
REGISTRATION_GET_INFO: Final = f"/{REGISTRATION_SERVICE}/{GET_INFO}"
REGISTRATION_NOTIFY: Final = f"/{REGISTRATION_SERVICE}/{NOTIFY_REGISTRATION_STATUS}"

# Labels for PluginInfo.supported_versions.
LABEL_DRA_V1: Final = "v1.DRAPlugin"
LABEL_DRA_V1BETA1: Final = "v1beta1.DRAPlugin"
LABEL_HEALTH_V1: Final = "v1.DRAResourceHealth"
LABEL_HEALTH_V1ALPHA1: Final = "v1alpha1.DRAResourceHealth"

DRA_LABELS: Final[dict[str, DRAVersion]] = {LABEL_DRA_V1: "v1", LABEL_DRA_V1BETA1: "v1beta1"}
"""DRAPlugin labels a current kubelet accepts, newest first, and the API version each means."""


def supported_versions(*, serve_v1beta1: bool, serve_health: bool) -> list[str]:
    """The ``supported_versions`` list, in the order the kubelet should prefer (it takes the
    first DRAPlugin entry it knows, walking *our* list)."""
    labels = [LABEL_DRA_V1]
    if serve_v1beta1:
        labels.append(LABEL_DRA_V1BETA1)
    if serve_health:
        labels += [LABEL_HEALTH_V1, LABEL_HEALTH_V1ALPHA1]
    return labels
