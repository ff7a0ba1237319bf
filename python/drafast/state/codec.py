"""JSON form of one checkpointed claim (schema version 1). Explicit, so the format is stable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from drafast.errors import CheckpointError
from drafast.resourceapi.cdiedits import edits_from_json, edits_to_json
from drafast.types import (
    ClaimRef,
    ClaimUID,
    DeviceName,
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


def encode_record(rec: ClaimRecord) -> bytes:
    devices = [
        _drop_none(
            {
                "requests": list(d.requests),
                "pool": d.pool,
                "device": d.device,
                "shareID": d.share_id,
                "edits": edits_to_json(d.edits) or None,
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
