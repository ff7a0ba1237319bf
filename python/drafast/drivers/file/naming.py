"""File name -> device name (a DNS label, unique and stable)."""

from __future__ import annotations

import re

from drafast.resourceapi.names import is_dns_label

_INVALID = re.compile(r"[^a-z0-9]+")


def device_name_for(file_name: str) -> str:
    """A file already named as a DNS label keeps its name. Any other name is sanitized and gets
    a hash of the original appended, so two files can never map to one device and the mapping
    never depends on which other files exist."""
    if is_dns_label(file_name):
        return file_name
    import hashlib  # only for names that need the hash: not at the plugin's start

    digest = hashlib.sha256(file_name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    stem = _INVALID.sub("-", file_name.lower()).strip("-")[:54].strip("-")
    return f"{stem}-{digest}" if stem else f"file-{digest}"
