"""CDI ``containerEdits`` JSON <-> :class:`drafast.types.ContainerEdits`: the one encoder, used by
the per-claim CDI spec writer and by the claim checkpoint.

Keys are the CDI spec's (``specs-go/config.go``), in its field order; absent and empty fields
are omitted, so equal edits always encode to the same bytes. The native CDI code validates and
re-renders specs canonically; the checkpoint stores this form as is.
"""

from __future__ import annotations

from typing import Any

from drafast.types import JSON, ContainerEdits, DeviceNode, Hook, Mount


def _present(pairs: tuple[tuple[str, Any], ...]) -> JSON:
    return {k: v for k, v in pairs if v is not None and v != []}


def edits_to_json(e: ContainerEdits) -> JSON:
    """ContainerEdits -> CDI ``containerEdits`` (empty edits -> ``{}``)."""
    out: JSON = {}
    if e.env:
        out["env"] = list(e.env)
    if e.device_nodes:
        out["deviceNodes"] = [
            _present(
                (
                    ("path", n.path),
                    ("hostPath", n.host_path),
                    ("type", n.type),
                    ("major", n.major),
                    ("minor", n.minor),
                    ("fileMode", n.file_mode),
                    ("permissions", n.permissions),
                    ("uid", n.uid),
                    ("gid", n.gid),
                )
            )
            for n in e.device_nodes
        ]
    if e.hooks:
        out["hooks"] = [
            _present(
                (
                    ("hookName", h.hook_name),
                    ("path", h.path),
                    ("args", list(h.args)),
                    ("env", list(h.env)),
                    ("timeout", h.timeout),
                )
            )
            for h in e.hooks
        ]
    if e.mounts:
        out["mounts"] = [
            _present(
                (
                    ("hostPath", m.host_path),
                    ("containerPath", m.container_path),
                    ("type", m.type),
                    ("options", list(m.options)),
                )
            )
            for m in e.mounts
        ]
    return out


def edits_from_json(d: JSON) -> ContainerEdits:
    """CDI ``containerEdits`` -> ContainerEdits. Raises KeyError/TypeError on a malformed object
    (callers name the file or record)."""
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
