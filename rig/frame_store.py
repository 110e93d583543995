"""Saving one captured frame (and the other files of the same shot) without ever overwriting.

Each file goes through :func:`rig.paths.write_new` (temp file, fsync, link into place), so a
power cut leaves either the whole file or none. A name that already exists is a
:class:`StorageError`, never an overwrite. The returned :class:`rig.manifest.SavedFrame` is what
:meth:`rig.manifest.Manifest.add_frame` records.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rig.camera.base import Frame
from rig.errors import StorageError
from rig.manifest import FrameFile, SavedFrame
from rig.paths import write_new


def _write(path: Path, data: bytes) -> None:
    try:
        write_new(path, data)
    except FileExistsError:
        raise StorageError(f"{path} already exists; refusing to overwrite it") from None


def save_frame(frame: Frame, path: Path, root: Path) -> SavedFrame:
    """Write ``frame`` to ``path`` and its companions (RAW+JPEG) beside it: same name, their own
    extension (numbered if two share one). Returns what was saved, paths relative to ``root``."""
    _write(path, frame.data)
    main = _file(path, frame.data, root)
    companions = []
    for n, part in enumerate(frame.companions, start=2):
        target = path.with_suffix(f".{part.ext}")
        if target.suffix.lower() == path.suffix.lower():
            target = path.with_name(f"{path.stem}-{n}.{part.ext}")
        _write(target, part.data)
        companions.append(_file(target, part.data, root))
    return SavedFrame(main, tuple(companions))


def _file(path: Path, data: bytes, root: Path) -> FrameFile:
    return FrameFile(str(path.relative_to(root)), len(data), hashlib.sha256(data).hexdigest())
