"""Where frames go, and how they get there safely.

* Output templates with ControlMyNikon's tokens: ``@GRP`` (a fresh folder per run named by
  local start time ``YYYYMMDD-HHMMSS``), ``@UGRP`` (the same in UTC), ``@GCTn`` (an n-digit
  counter that advances only after a frame was saved), ``@PROFILE`` (the profile name),
  ``@NAME`` and ``@SESSION`` (the specimen's name and session, made safe: :mod:`rig.specimen`).
* Atomic, never-overwriting writes: temporary file, fsync, hard link (which fails if the
  name exists, so nothing is ever replaced), directory fsync.
* ``write_replace`` for files that are meant to be updated in place (the manifest): the
  old or the new version is on disk after a crash at any point, never a torn one.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rig.errors import StorageError, UsageError
from rig.specimen import Specimen, safe_component

TOKEN_RE = re.compile(r"@([A-Z]+)(\d*)")
GROUP_TOKENS = ("GRP", "UGRP", "NAME")  # a fresh folder per run (a second run of one name gets -2, -3...)
KNOWN_TOKENS = ("GRP", "UGRP", "GCT", "PROFILE", "NAME", "SESSION")
SPECIMEN_TOKENS = {"NAME": ("name", "specimen name"), "SESSION": ("session", "session")}
NAME_MAX = 255  # bytes in one folder or file name (ext4, vfat with long names, exFAT)


@dataclass(frozen=True)
class Template:
    """A parsed output template: a run-folder part and a per-frame file-name part."""

    folder: str  # may contain @GRP/@UGRP/@PROFILE
    name: str  # must contain @GCTn; may contain @PROFILE
    digits: int

    @classmethod
    def parse(cls, text: str, root: str | os.PathLike[str] = "~/rig-stacks") -> Template:
        if not isinstance(text, str) or not text.strip():
            raise UsageError("output template is empty")
        if "\x00" in text:
            raise UsageError("output template contains a NUL byte")
        for m in TOKEN_RE.finditer(text):
            token, digits = m.group(1), m.group(2)
            if token not in KNOWN_TOKENS:
                raise UsageError(
                    f"output template {text!r}: unknown token '@{token}' "
                    "(known: @GRP, @UGRP, @GCTn, @PROFILE, @NAME, @SESSION)"
                )
            if digits and token != "GCT":
                raise UsageError(f"output template {text!r}: '@{token}{digits}' takes no digits")
        full = os.path.expanduser(text) if text.startswith("~") else text
        if not os.path.isabs(full):
            full = os.path.join(os.path.expanduser(str(root)), full)
        folder, name = os.path.split(full)
        counters = list(re.finditer(r"@GCT(\d*)", name))
        if len(counters) != 1:
            raise UsageError(f"output template {text!r}: the file name needs exactly one counter @GCTn (e.g. @GCT4)")
        digits = int(counters[0].group(1) or 4)
        if not 1 <= digits <= 9:
            raise UsageError(f"output template {text!r}: counter digits must be 1 to 9")
        for token in SPECIMEN_TOKENS:
            if f"@{token}" in name:
                raise UsageError(f"output template {text!r}: @{token} belongs in the folder part, not the file name")
        if "@GCT" in folder:
            raise UsageError(f"output template {text!r}: the counter @GCTn belongs in the file name")
        if not any(f"@{t}" in folder for t in GROUP_TOKENS):
            raise UsageError(
                f"output template {text!r}: the folder needs @GRP or @UGRP (or @NAME) so each run gets a fresh folder"
            )
        template = cls(folder=folder, name=name, digits=digits)
        template._check_lengths(text)
        return template

    def _check_lengths(self, text: str) -> None:
        """Every folder and file name must fit the filesystem's 255-byte limit once expanded
        (worst case: a run-folder suffix, a 64-character profile name, a temp-file prefix)."""
        worst = {"@UGRP": "x" * 19, "@GRP": "x" * 19, "@PROFILE": "x" * 64, "@NAME": "x" * 80, "@SESSION": "x" * 80}

        def expand(part: str) -> str:
            for token, value in worst.items():
                part = part.replace(token, value)
            return re.sub(r"@GCT\d*", "9" * self.digits, part)

        parts = [p for p in self.folder.split(os.sep) if p] + ["." + self.name + ".jpeg.1234567.tmp"]
        for part in parts:
            if len(expand(part).encode()) > NAME_MAX:
                raise UsageError(
                    f"output template {text!r}: the name {part[:40]!r}... is too long "
                    f"(a folder or file name may have at most {NAME_MAX} bytes)"
                )

    def prefix(self) -> Path:
        """The fixed part of the run folder, before the first token."""
        parts = []
        for part in Path(self.folder).parts:
            if "@" in part:
                break
            parts.append(part)
        return Path(*parts) if parts else Path("/")

    def is_under(self, root: str | os.PathLike[str]) -> bool:
        """True when every run folder of this template lies inside ``root`` (symlinks resolved)."""
        base = os.path.realpath(os.path.expanduser(str(root)))
        fixed = os.path.realpath(self.prefix())
        tail = Path(self.folder).parts[len(self.prefix().parts) :]
        if any(part in ("..", ".") for part in tail):
            return False
        return fixed == base or fixed.startswith(base.rstrip(os.sep) + os.sep)

    def run_folder(self, started: datetime, profile: str, specimen: Specimen | None = None) -> Path:
        """The run folder for a start time (timezone-aware ``started``) and specimen. Raises
        :class:`UsageError` when the template names ``@NAME``/``@SESSION`` and the stack has none."""
        local = started.astimezone().strftime("%Y%m%d-%H%M%S")
        utc = started.astimezone(tz=__import__("datetime").timezone.utc).strftime("%Y%m%d-%H%M%S")
        text = self.folder.replace("@UGRP", utc).replace("@GRP", local).replace("@PROFILE", _safe(profile))
        for token, (field, what) in SPECIMEN_TOKENS.items():
            if f"@{token}" in text:
                value = getattr(specimen, field, None) if specimen else None
                if not value:
                    raise UsageError(f"output template uses @{token}: give the stack a {what}")
                text = text.replace(f"@{token}", safe_component(value, what))
        return Path(text)

    def file_name(self, counter: int, profile: str, ext: str) -> str:
        base = re.sub(r"@GCT\d*", f"{counter:0{self.digits}d}", self.name).replace("@PROFILE", _safe(profile))
        return f"{base}.{ext}" if ext else base

    def writable_check(self, started: datetime, profile: str, specimen: Specimen | None = None) -> Path:
        """Raise UsageError unless the run folder could be created; creates nothing."""
        target = self.run_folder(started, profile, specimen)
        probe = target
        try:
            while not probe.exists():
                if probe.parent == probe:
                    break
                probe = probe.parent
        except OSError as exc:
            raise UsageError(f"output folder {target}: {exc.strerror}") from None
        if not probe.is_dir():
            raise UsageError(f"output folder {target}: {probe} is not a folder")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise UsageError(f"output folder {target}: {probe} is not writable")
        return target


def _safe(name: str) -> str:
    """A profile name made safe as one path component (no separators, no leading dot)."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name or "default").lstrip(".")[:64] or "default"


def make_run_folder(path: Path) -> Path:
    """Create a fresh run folder; if the name is taken (two runs in one second), add -2, -3..."""
    for attempt in range(1, 1000):
        candidate = path if attempt == 1 else path.with_name(f"{path.name}-{attempt}")
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise StorageError(f"cannot create the run folder {candidate}: {exc.strerror}") from None
        fsync_dir(candidate.parent)
        return candidate
    raise StorageError(f"cannot find a free run folder name next to {path}")


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (vfat over FUSE) cannot fsync a folder
    finally:
        os.close(fd)


def temp_files(path: Path) -> list[Path]:
    """Temporary files of the writers below for ``path`` that a hard kill left behind."""
    return sorted(Path(path).parent.glob(f".{Path(path).name}.*.tmp"))


def _write_temp(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        os.unlink(tmp)  # a leftover of this pid from an earlier crash: it was never a frame
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; never replaces an existing file.

    Raises ``FileExistsError`` if ``path`` exists and ``StorageError`` for any other failure
    (disk full, read-only, ...); in every failure case no partial file is left behind.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(errno.EEXIST, "refusing to overwrite", str(path))
    try:
        tmp = _write_temp(path, data)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        try:
            os.link(tmp, path)  # fails with EEXIST instead of replacing
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise FileExistsError(errno.EEXIST, "refusing to overwrite", str(path)) from None
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise StorageError(f"cannot save {path}: {exc.strerror}") from None
            # filesystems without hard links (vfat USB sticks): check, then rename
            if path.exists():
                raise FileExistsError(errno.EEXIST, "refusing to overwrite", str(path)) from None
            os.rename(tmp, path)
    finally:
        if tmp.exists():
            os.unlink(tmp)
    fsync_dir(path.parent)


def write_replace(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` (old or new version survives a crash)."""
    path = Path(path)
    tmp = None
    try:
        tmp = _write_temp(path, data)
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None and tmp.exists():
            os.unlink(tmp)  # an interrupt (SIGTERM as KeyboardInterrupt) between the write and the rename
    fsync_dir(path.parent)


def free_mb(path: Path) -> float:
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    st = os.statvfs(probe)
    return st.f_bavail * st.f_frsize / 1e6
