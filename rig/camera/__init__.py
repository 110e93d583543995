"""Cameras: the protocol, the backends (one per file) and the factory."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from rig.camera.base import Camera, Frame, looks_complete
from rig.config import CameraConfig

__all__ = ["Camera", "Frame", "looks_complete", "open_camera", "BACKEND_MODULES"]

BACKEND_MODULES = {
    "sim": "rig.camera.sim:SimCamera",
    "gphoto": "rig.camera.gphoto:GphotoCamera",
    "shutter": "rig.camera.shutter:ShutterCamera",
    "picam": "rig.camera.picam:PicamCamera",
}


def open_camera(
    cfg: CameraConfig,
    focus: Callable[[], float] | None = None,
    shake: Callable[[], float] | None = None,
    **kwargs: Any,
) -> Camera:
    """Open the configured camera. ``focus`` (a callable giving the rail position) and ``shake``
    (the rail's vibration, 0..1) feed the simulated camera's renderer; other keyword arguments go
    to the backend."""
    module_name, class_name = BACKEND_MODULES[cfg.backend].split(":")
    cls: Callable[..., Camera] = getattr(importlib.import_module(module_name), class_name)
    if cfg.backend == "sim":
        return cls(cfg, focus=focus, shake=shake, **kwargs)
    return cls(cfg, **kwargs)
