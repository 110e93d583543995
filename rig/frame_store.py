"""Saving one captured frame (and the other files of the same shot) without ever overwriting.

Each file goes through :func:`rig.paths.write_new` (temp file, fsync, link into place), so a
power cut leaves either the whole file or none. A name that already exists is a
:class:`StorageError`, never an overwrite. The returned fields are what the manifest records.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from rig.camera.base import Frame
from rig.errors import StorageError
from rig.paths import write_new


def _write(path: Path, data: bytes) -> None:
    try:
        write_new(path, data)
    except FileExistsError:
        raise StorageError(f"{path} already exists; refusing to overwrite it") from None


def save_frame(frame: Frame, path: Path, root: Path) -> dict[str, Any]:
    """Write ``frame`` to ``path`` and its companions (RAW+JPEG) beside it: same name, their own
    extension (numbered if two share one). Returns the manifest fields, paths relative to ``root``:
    ``file``, ``size``, ``sha256`` and, if there are companions, ``companions``."""
    _write(path, frame.data)
    fields: dict[str, Any] = {
        "file": str(path.relative_to(root)),
        "size": len(frame.data),
        "sha256": hashlib.sha256(frame.data).hexdigest(),
    }
    companions = []
    for n, part in enumerate(frame.companions, start=2):
        target = path.with_suffix(f".{part.ext}")
        if target.suffix.lower() == path.suffix.lower():
            target = path.with_name(f"{path.stem}-{n}.{part.ext}")
        _write(target, part.data)
        companions.append(
            {
                "file": str(target.relative_to(root)),
                "bytes": len(part.data),
                "sha256": hashlib.sha256(part.data).hexdigest(),
            }
        )
    if companions:
        fields["companions"] = companions
    return fields
