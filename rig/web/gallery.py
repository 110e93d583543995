"""The gallery: stacks under ``output.root``, their frames, merged results and depth maps.

Path safety: a stack id is a relative folder path under the output root. Every component
is checked with ``lstat`` (no symlinks, no ``..``, no hidden names), the resolved path must
stay under the root, and the folder must hold a regular ``stack.json``. A file is served
only if the manifest lists it or it is one of the merge results, and only if it is a
regular file reached without symlinks.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

from rig.check_report import check_summary
from rig.manifest import MANIFEST, FrameRecord, StackManifest, UnreadableManifest, read_manifest
from rig.merge.results import PREVIEW, RESULTS
from rig.run_storage import COMPOSITE_IMAGE, COVERAGE_IMAGE
from rig.web.catalogue import Catalogue, Query
from rig.web.security import ApiError

log = logging.getLogger(__name__)
MAX_DEPTH = 5
UNREADABLE = "unreadable"
DISPLAYABLE = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")


def _not_found(what: str = "no such stack") -> ApiError:
    return ApiError(404, what)


def _check_name(part: str) -> None:
    if part in ("", ".", "..") or part.startswith(".") or "\x00" in part or "\\" in part:
        raise _not_found()


def _walk_safe(base: Path, parts: list[str]) -> Path:
    """Join ``parts`` under ``base``, refusing symlinks and anything but folders on the way."""
    path = base
    for i, part in enumerate(parts):
        _check_name(part)
        path = path / part
        try:
            st = os.lstat(path)
        except (OSError, ValueError):
            raise _not_found() from None
        if stat.S_ISLNK(st.st_mode):
            raise _not_found()
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            raise _not_found()
    return path


class Gallery:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.expanduser(str(root)))
        self._thumbs: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._thumb_lock = threading.Lock()
        self.catalogue = Catalogue(self.root, self.summary)  # the SQLite index (a cache) behind listing()

    # ------------------------------------------------------------- locating
    def real_root(self) -> Path | None:
        try:
            real = Path(os.path.realpath(self.root))
        except (OSError, ValueError):
            return None
        return real if real.is_dir() else None

    def folder(self, sid: str) -> Path:
        """The run folder for stack id ``sid`` (404 unless it is a safe, real stack folder)."""
        root = self.real_root()
        if root is None or not isinstance(sid, str) or len(sid) > 1000:
            raise _not_found()
        path = _walk_safe(root, sid.split("/"))
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise _not_found()
        try:
            st = os.lstat(path / MANIFEST)
        except OSError:
            raise _not_found() from None
        if not stat.S_ISREG(st.st_mode):
            raise _not_found()
        real = os.path.realpath(path)
        if not real.startswith(str(root) + os.sep):
            raise _not_found()
        return Path(real)

    def file(self, sid: str, name: str) -> Path:
        folder = self.folder(sid)
        if not isinstance(name, str) or name not in self.file_names(folder):
            raise _not_found("no such file in this stack")
        path = _walk_safe(folder, name.split("/"))
        try:
            st = os.lstat(path)
        except OSError:
            raise _not_found("no such file in this stack") from None
        if not stat.S_ISREG(st.st_mode):
            raise _not_found("no such file in this stack")
        return path

    def file_names(self, folder: Path) -> set[str]:
        names = {MANIFEST, *RESULTS.names, PREVIEW, COVERAGE_IMAGE, COMPOSITE_IMAGE}
        for frame in _manifest(folder).frames or ():  # shots the per-frame checks turned down
            if frame.checks is not None:
                names.update(r.file for r in frame.checks.rejected if r.file)
        for frame in _manifest(folder).frames or ():
            names.update(f.file for f in frame.files())
        return names

    def stack_id(self, folder: str | os.PathLike[str] | None) -> str | None:
        """The id of a run folder, or None if it is not under the root."""
        root = self.real_root()
        if root is None or not folder:
            return None
        real = os.path.realpath(folder)
        if not real.startswith(str(root) + os.sep):
            return None
        return Path(real).relative_to(root).as_posix()

    # ------------------------------------------------------------- listing
    def stacks(self, limit: int = 500) -> list[dict[str, Any]]:
        root = self.real_root()
        if root is None:
            return []
        found: list[dict[str, Any]] = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            rel = Path(dirpath).relative_to(root)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            if MANIFEST in filenames and rel.parts:
                dirnames[:] = []
                if os.path.islink(os.path.join(dirpath, MANIFEST)):
                    continue
                found.append(self.summary(rel.as_posix(), Path(dirpath)))
            elif len(rel.parts) >= MAX_DEPTH:
                dirnames[:] = []
        found.sort(key=lambda s: (s.get("started") or "", s["id"]), reverse=True)
        return found[:limit]

    def listing(self, query: Query) -> tuple[list[dict[str, Any]], int]:
        """A page of stack summaries from the catalogue (searched, filtered, grouped) and the total."""
        if self.real_root() is None:
            return [], 0
        return self.catalogue.query(query)

    def summary(self, sid: str, folder: Path) -> dict[str, Any]:
        return self._summary(sid, folder, _manifest(folder))

    def _summary(self, sid: str, folder: Path, data: StackManifest) -> dict[str, Any]:
        saved = _saved(data)
        return {
            "id": sid,
            "name": folder.name,
            "started": data.started,
            "ended": data.ended,
            "outcome": data.outcome or UNREADABLE,
            "error": data.error,
            "profile_name": data.profile_name,
            "mode": data.mode,
            "frames": len(saved),
            "planned": len(data.planned_positions),
            "merged": (folder / RESULTS.jpeg).is_file() or (folder / RESULTS.image).is_file(),
            "thumb_file": self.thumb_source(folder, saved),
            # false: started while the rig's clock was not synchronised (its date may be wrong)
            "clock_synchronized": data.clock_synchronized,
            "specimen": data.specimen.to_json() if data.specimen else None,
        }

    def detail(self, sid: str) -> dict[str, Any]:
        """One stack's details; 422 with the reason when its manifest cannot be read."""
        folder = self.folder(sid)
        data = _manifest(folder)
        if data.outcome == UNREADABLE:
            raise ApiError(422, f"{sid}: {data.error}", "manifest")
        info = self._summary(sid, folder, data)
        info["units"] = data.units
        info["profile"] = dict(data.profile)
        info["frame_list"] = [
            {
                "index": f.index,
                "position": f.position,
                "file": f.file,
                "preview": f.preview,
                "displayable": _displayable(f.file),
                "companions": [c.file for c in f.companions],
                **(f.checks.to_json() if f.checks else {}),  # verdict, shots, checks (issue 14)
                "gap_fill": f.gap_fill,
            }
            for f in data.frames or ()
        ]
        info["coverage"] = data.coverage.to_json() if data.coverage else None
        info["check_summary"] = check_summary(data)
        info["results"] = {name: (folder / name).is_file() for name in RESULTS.names}
        info["result_names"] = RESULTS.to_json()
        info["last_merge"] = data.merge.to_json() if data.merge else None
        info["crop"] = list(data.crop) if data.crop else None
        return info

    @staticmethod
    def thumb_source(folder: Path, saved: list[FrameRecord]) -> str | None:
        for name in (RESULTS.jpeg, RESULTS.image):
            if (folder / name).is_file():
                return name
        shown = [f.file for f in saved if _displayable(f.file)]
        return shown[len(shown) // 2] if shown else None

    # ------------------------------------------------------------- changing
    def delete(self, sid: str) -> None:
        folder = self.folder(sid)
        try:
            shutil.rmtree(folder)
            self.catalogue.touch(sid)
        except OSError as exc:
            raise ApiError(503, f"could not delete {sid}: {exc.strerror or exc}") from None
        log.info("deleted stack %s", folder)

    # ------------------------------------------------------------- thumbnails
    def thumbnail(self, path: Path, width: int) -> bytes:
        import cv2

        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size, width)
        with self._thumb_lock:
            if key in self._thumbs:
                self._thumbs.move_to_end(key)
                return self._thumbs[key]
        cached = self.catalogue.thumb(repr(key))
        if cached is not None:
            return cached
        flag = cv2.IMREAD_COLOR
        if path.suffix.lower() in (".jpg", ".jpeg") and st.st_size > 600_000:
            flag = cv2.IMREAD_REDUCED_COLOR_4
        img = cv2.imread(str(path), flag)
        if img is None:
            raise ApiError(404, "no preview for this file type")
        h, w = img.shape[:2]
        if w > width:
            img = cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            raise ApiError(404, "could not make a preview of this file")
        data = buf.tobytes()
        self.catalogue.keep_thumb(repr(key), data)
        with self._thumb_lock:
            self._thumbs[key] = data
            while len(self._thumbs) > 300:
                self._thumbs.popitem(last=False)
        return data


def _displayable(name: Any) -> bool:
    return isinstance(name, str) and name.lower().endswith(DISPLAYABLE)


def _unreadable(reason: str) -> StackManifest:
    return StackManifest(format=None, outcome=UNREADABLE, error=f"unreadable manifest: {reason}")


def _manifest(folder: Path) -> StackManifest:
    """The manifest of ``folder`` through :func:`rig.manifest.read_manifest`; one that cannot be
    read comes back with outcome ``unreadable`` and the reason in ``error``; it never raises."""
    try:
        record = read_manifest(folder)
    except (OSError, UnreadableManifest) as exc:
        return _unreadable(str(exc) if isinstance(exc, UnreadableManifest) else "cannot be read")
    return record if record.frames is not None else replace(record, frames=())


def _saved(record: StackManifest) -> list[FrameRecord]:
    return [f for f in record.frames or () if f.file is not None]


def used_by_run(folder: Path, status: dict[str, Any]) -> bool:
    """Whether the sequencer is writing into ``folder`` right now."""
    current = status.get("folder")
    return bool(status.get("busy") and current and os.path.realpath(current) == str(folder))
