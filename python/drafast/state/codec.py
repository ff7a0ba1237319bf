"""JSON form of one checkpointed claim (schema version 1). Explicit, so the format is stable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from drafast.errors import CheckpointError
from drafast.types import (
    ClaimRef,
    ClaimUID,
    ContainerEdits,
    DeviceName,
    DeviceNode,
    Hook,
    Mount,
    PoolName,
    PreparedClaim,
    PreparedDevice,
)

RECORD_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRecord:
    """A prepared claim as checkpointed: who it is, what the driver made, which CDI IDs we gave."""

    ref: ClaimRef
    prepared: PreparedClaim
    cdi_ids: tuple[tuple[str, ...], ...]
    """Per device of ``prepared.devices``: the CDI IDs returned to the kubelet."""


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v not in ([], ())}


def _edits_to_json(e: ContainerEdits) -> dict[str, Any]:
    return _drop_none(
        {
            "env": list(e.env),
            "deviceNodes": [
                _drop_none(
                    {
                        "path": n.path,
                        "hostPath": n.host_path,
                        "type": n.type,
                        "major": n.major,
                        "minor": n.minor,
                        "fileMode": n.file_mode,
                        "permissions": n.permissions,
                        "uid": n.uid,
                        "gid": n.gid,
                    }
                )
                for n in e.device_nodes
            ],
            "mounts": [
                _drop_none(
                    {
                        "hostPath": m.host_path,
                        "containerPath": m.container_path,
                        "type": m.type,
                        "options": list(m.options),
                    }
                )
                for m in e.mounts
            ],
            "hooks": [
                _drop_none(
                    {
                        "hookName": h.hook_name,
                        "path": h.path,
                        "args": list(h.args),
                        "env": list(h.env),
                        "timeout": h.timeout,
                    }
                )
                for h in e.hooks
            ],
        }
    )


def edits_from_json(d: dict[str, Any]) -> ContainerEdits:
    return ContainerEdits(
        env=tuple(d.get("env", ())),
        device_nodes=tuple(
            DeviceNode(
                path=n["path"],
                host_path=n.get("hostPath"),
                type=n.get("type"),
                major=n.get("major"),
                minor=n.get("minor"),
                file_mode=n.get("fileMode"),
                permissions=n.get("permissions"),
                uid=n.get("uid"),
                gid=n.get("gid"),
            )
            for n in d.get("deviceNodes", ())
        ),
        mounts=tuple(
            Mount(
                host_path=m["hostPath"],
                container_path=m["containerPath"],
                type=m.get("type"),
                options=tuple(m.get("options", ())),
            )
            for m in d.get("mounts", ())
        ),
        hooks=tuple(
            Hook(
                hook_name=h["hookName"],
                path=h["path"],
                args=tuple(h.get("args", ())),
                env=tuple(h.get("env", ())),
                timeout=h.get("timeout"),
            )
            for h in d.get("hooks", ())
        ),
    )


def encode_record(rec: ClaimRecord) -> bytes:
    devices = [
        _drop_none(
            {
                "requests": list(d.requests),
                "pool": d.pool,
                "device": d.device,
                "shareID": d.share_id,
                "edits": _edits_to_json(d.edits) or None,
                "extraCDIIDs": list(d.cdi_device_ids),
                "cdiIDs": list(ids),
            }
        )
        for d, ids in zip(rec.prepared.devices, rec.cdi_ids, strict=True)
    ]
    doc = {
        "v": RECORD_VERSION,
        "namespace": rec.ref.namespace,
        "name": rec.ref.name,
        "uid": rec.ref.uid,
        "devices": devices,
        "state": rec.prepared.state,
    }
    return orjson.dumps(doc)


def decode_record(raw: bytes, where: str) -> ClaimRecord:
    """Decode one record; ``where`` names the checkpoint file and key for error messages."""
    try:
        doc = orjson.loads(raw)
        if doc.get("v") != RECORD_VERSION:
            raise CheckpointError(f"{where}: unsupported record version {doc.get('v')!r}")
        devices = []
        ids = []
        for d in doc["devices"]:
            devices.append(
                PreparedDevice(
                    requests=tuple(d["requests"]),
                    pool=PoolName(d["pool"]),
                    device=DeviceName(d["device"]),
                    share_id=d.get("shareID"),
                    edits=edits_from_json(d.get("edits", {})),
                    cdi_device_ids=tuple(d.get("extraCDIIDs", ())),
                )
            )
            ids.append(tuple(d.get("cdiIDs", ())))
        return ClaimRecord(
            ref=ClaimRef(namespace=doc["namespace"], name=doc["name"], uid=ClaimUID(doc["uid"])),
            prepared=PreparedClaim(devices=tuple(devices), state=doc.get("state") or {}),
            cdi_ids=tuple(ids),
        )
    except CheckpointError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{where}: malformed claim record: {err!r}") from err
