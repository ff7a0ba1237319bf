"""The harness's exceptions, below every module that raises them."""

from __future__ import annotations

__all__ = ["ControlPlaneError", "NodeError"]


class ControlPlaneError(RuntimeError):
    """A component failed to start, became unready, or a binary is missing."""


class NodeError(ControlPlaneError):
    """containerd or the kubelet failed to start, or the node never became Ready."""
