"""HTTP checks of the harness's components: health endpoints and Prometheus ``/metrics``."""

from __future__ import annotations

import re
import ssl
import urllib.error
import urllib.request

__all__ = ["insecure_context", "parse_metrics", "probe"]


def insecure_context() -> ssl.SSLContext:
    """TLS without verification: for health checks before a serving cert (or its CA) exists,
    and for components that serve a self-signed cert nobody else trusts."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def probe(
    url: str, *, token: str | None = None, context: ssl.SSLContext | None = None
) -> tuple[int, str]:
    """GET ``url``; (status, body), or (0, error text) if nothing answered."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5, context=context) as resp:
            return int(resp.status), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return int(e.code), e.read().decode(errors="replace")
    except (OSError, ssl.SSLError) as e:
        return 0, str(e)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text format -> sample name -> [(labels, value)] (comments skipped)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = {
            k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m[3] or "")
        }
        try:
            value = float(m[4])
        except ValueError:
            continue
        out.setdefault(m[1], []).append((labels, value))
    return out
