"""The Camera protocol every camera backend implements.

``capture()`` returns the frame's bytes (the sequencer saves them through the atomic
writer) or ``None`` when the frame stays on the camera's own card (shutter-release line).
Backends verify a frame before returning it (size, decode / end-of-image check) and raise
``CameraError`` with a clear message on any failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Frame:
    """One captured image, already verified by the backend."""

    data: bytes
    ext: str  # file extension without dot, lower case: "jpg", "nef", "png", ...
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"camera_path": "/store_00010001/DCIM/..."}
    companions: list[Frame] = field(default_factory=list)  # more files of the same shot (RAW+JPEG)


@runtime_checkable
class Camera(Protocol):
    def capture(self) -> Frame | None:
        """Take one full-resolution frame. ``None``: the frame stays on the camera's card."""

    def frame_saved(self, frame: Frame) -> None:
        """Called after ``frame`` was saved durably (e.g. delete it from the camera's card)."""

    def preview(self) -> bytes:
        """A fast low-resolution JPEG (live view). Raises CameraError if unsupported.

        A backend that can never give one sets the class attribute ``has_live_view = False``
        (default: True), so ``preview-images`` is refused before anything moves."""

    def release(self) -> None:
        """Release the shutter/focus lines and abort anything pending. Any thread. Idempotent."""

    def info(self) -> dict[str, Any]:
        """Model, battery, free space, capture target... whatever the backend knows."""

    def health(self) -> dict[str, Any]:
        """A small JSON-able dict: at least ``{"ok": bool, "backend": str}``."""

    def close(self) -> None:
        """Release the device. Idempotent."""


def notify_stack_started(camera: Camera) -> None:
    """Tell ``camera`` a stack begins, before its first slice. An optional hook: a backend may
    define ``stack_started()`` (the Pi camera meters afresh, then locks exposure and white
    balance at the stack's first frame); others need nothing."""
    hook = getattr(camera, "stack_started", None)
    if hook is not None:
        hook()


def looks_complete(data: bytes, ext: str) -> bool:
    """Cheap end-of-file checks for formats that have one (JPEG EOI, PNG IEND)."""
    ext = ext.lower()
    if ext in ("jpg", "jpeg"):
        return data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] == b"\xff\xd9"
    if ext == "png":
        return data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" in data[-16:]
    return len(data) > 0
