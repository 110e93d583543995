"""Profiles stored as TOML files, one per name, in the user's config folder (XDG)."""

from __future__ import annotations

import re
from pathlib import Path

from rig.config import Profile, profile_dir, profile_from_toml, profile_to_toml
from rig.errors import ConfigError, StorageError, UsageError
from rig.paths import write_replace

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+-]{0,63}$")


class ProfileStore:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder else profile_dir()

    def _path(self, name: str) -> Path:
        if not isinstance(name, str) or not NAME_RE.match(name) or name.endswith("."):
            raise UsageError(f"profile name {name!r} is not allowed (letters, digits, space, _ . + -; up to 64)")
        return self.folder / f"{name}.toml"

    def names(self) -> list[str]:
        try:
            if not self.folder.is_dir():
                return []
            return sorted(p.stem for p in self.folder.iterdir() if p.suffix == ".toml")
        except OSError as exc:
            raise ConfigError(f"cannot list the profile folder {self.folder}: {exc.strerror or exc}") from None

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def load(self, name: str) -> Profile:
        path = self._path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            known = ", ".join(self.names()) or "none saved yet"
            raise UsageError(f"no profile named {name!r} (known: {known})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        return profile_from_toml(text, str(path))

    def save(self, name: str, profile: Profile) -> Path:
        path = self._path(name)
        profile.checked(f"profile {name!r}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the profile folder {path.parent}: {exc.strerror}") from None
        try:
            write_replace(path, profile_to_toml(profile).encode())
        except StorageError as exc:
            raise UsageError(f"cannot save the profile: {exc}") from None
        return path

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise UsageError(f"no profile named {name!r}") from None
        except OSError as exc:
            raise UsageError(f"cannot delete the profile {path}: {exc.strerror or exc}") from None
