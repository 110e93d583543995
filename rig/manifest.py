"""``stack.json``: the manifest of one run, updated as the run goes.

It is rewritten atomically after every saved frame and every outcome change, so it is
valid JSON after a crash at any point. Any stack can be re-merged from it later.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rig import __version__
from rig.paths import write_replace

MANIFEST = "stack.json"
FORMAT = "rig-stack/1"
OUTCOMES = ("running", "completed", "cancelled", "failed", "interrupted")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Manifest:
    def __init__(self, folder: Path, data: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST
        self.data = data
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls,
        folder: Path,
        *,
        profile_name: str,
        profile: dict,
        config: dict,
        mode: str,
        units: str,
        started: datetime,
        planned: list[float],
        clock_synchronized: bool | None = None,
    ) -> Manifest:
        data = {
            "format": FORMAT,
            "rig_version": __version__,
            "profile_name": profile_name,
            "profile": profile,
            "config": config,
            "mode": mode,
            "units": units,
            "started": started.astimezone().isoformat(timespec="seconds"),
            "started_utc": started.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "planned_positions": planned,
            "clock_synchronized": clock_synchronized,  # false: the folder's date may be wrong (no NTP, no RTC)
            "outcome": "running",
            "error": None,
            "ended": None,
            "frames": [],
            "merge": None,
        }
        manifest = cls(folder, data)
        manifest.save()
        return manifest

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = Path(folder) / MANIFEST
        return cls(Path(folder), json.loads(path.read_text(encoding="utf-8")))

    def save(self) -> None:
        with self._lock:
            text = json.dumps(self.data, indent=1, allow_nan=False)
            write_replace(self.path, text.encode())

    def add_frame(
        self,
        *,
        index: int,
        position: float,
        file: str | None,
        size: int | None,
        sha256: str | None,
        preview: bool = False,
        **extra: Any,
    ) -> None:
        key = "position_um" if self.data["units"] == "um" else "position_steps"
        entry = {
            "index": index,
            key: round(position, 4),
            "time": now_iso(),
            "file": file,
            "bytes": size,
            "sha256": sha256,
        }
        if preview:
            entry["preview"] = True
        if file is None:
            entry["stored"] = "camera-card"
        entry.update(extra)
        self.data["frames"].append(entry)
        self.save()

    def finish(self, outcome: str, error: str | None = None) -> None:
        assert outcome in OUTCOMES, outcome
        self.data["outcome"] = outcome
        self.data["error"] = error
        self.data["ended"] = now_iso()
        self.save()

    @property
    def outcome(self) -> str:
        return self.data.get("outcome", "unknown")


def find_interrupted(root: Path, limit: int = 10_000) -> list[Path]:
    """Run folders under ``root`` whose manifest still says ``running`` (power loss, SIGKILL)."""
    found = []
    root = Path(root).expanduser()
    if not root.is_dir():
        return found
    for path in sorted(root.rglob(MANIFEST))[:limit]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue  # not ours, or unreadable (not UTF-8, not JSON, nested too deep): leave it alone
        if isinstance(data, dict) and data.get("outcome") == "running" and isinstance(data.get("frames"), list):
            found.append(path.parent)
    return found


def mark_interrupted(root: Path) -> list[Path]:
    """Mark every run left ``running`` as ``interrupted``; frames are kept untouched."""
    marked = []
    for folder in find_interrupted(root):
        manifest = Manifest.load(folder)
        manifest.finish("interrupted", "the rig stopped mid-run (power loss or crash); frames kept")
        marked.append(folder)
    return marked
