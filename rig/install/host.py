"""What the installer needs to know about the machine it installs on (read-only).

Everything is read under a root prefix (``/`` on a real Pi, a temporary folder in tests),
and the few questions only a command can answer (which apt packages are installed, which
Chromium package exists) go through an injected ``probe`` that must not change anything.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Probe = Callable[[Sequence[str]], tuple[int, str]]


def system_probe(argv: Sequence[str]) -> tuple[int, str]:
    """Run a read-only query command; (exit status, stdout). A missing tool gives 127."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        return 127, ""
    return done.returncode, done.stdout


@dataclass
class Host:
    root: Path = Path("/")
    probe: Probe = system_probe
    _installed: dict[str, bool] = field(default_factory=dict)

    def path(self, path: str) -> Path:
        """``path`` (absolute, on the target system) under the root prefix."""
        return self.root / path.lstrip("/")

    def read(self, path: str) -> bytes | None:
        try:
            return self.path(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def exists(self, path: str) -> bool:
        return self.path(path).exists() or self.path(path).is_symlink()

    def _table(self, path: str) -> list[list[str]]:
        text = (self.read(path) or b"").decode("utf-8", "replace")
        return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]

    def users(self) -> set[str]:
        return {row[0] for row in self._table("/etc/passwd")}

    def groups(self) -> dict[str, set[str]]:
        """Group name -> supplementary members (from /etc/group)."""
        return {
            row[0]: {m for m in row[3].split(",") if m} if len(row) > 3 else set() for row in self._table("/etc/group")
        }

    def missing_memberships(self, user: str, wanted: Iterable[str]) -> list[str]:
        groups = self.groups()
        return [g for g in wanted if user not in groups.get(g, set())]

    def installed(self, packages: Iterable[str]) -> set[str]:
        """Which of ``packages`` dpkg reports as installed."""
        wanted = [p for p in packages if p not in self._installed]
        if wanted:
            rc, out = self.probe(["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\\n", *wanted])
            found = {}
            for line in out.splitlines():
                parts = line.split()
                if len(parts) >= 2:
                    found[parts[0].split(":")[0]] = parts[1].startswith("ii")
            for p in wanted:
                self._installed[p] = found.get(p, False)
        return {p for p in packages if self._installed.get(p)}

    def raspberry_pi_os(self) -> bool:
        """Raspberry Pi OS (its own apt repository), as opposed to plain Debian."""
        if self.exists("/etc/rpi-issue"):
            return True
        for name in ("raspi.list", "raspi.sources"):
            if b"raspberrypi" in (self.read(f"/etc/apt/sources.list.d/{name}") or b""):
                return True
        return False

    def model(self) -> str | None:
        """The board, e.g. 'Raspberry Pi 5 Model B Rev 1.0'; None off a Pi."""
        raw = self.read("/proc/device-tree/model") or self.read("/sys/firmware/devicetree/base/model")
        return raw.rstrip(b"\x00\n").decode("utf-8", "replace") if raw else None

    def chromium_package(self) -> str:
        """Raspberry Pi OS ships its GPU-accelerated build as chromium-browser; Debian as chromium."""
        if self.raspberry_pi_os():
            rc, out = self.probe(["apt-cache", "show", "--no-all-versions", "chromium-browser"])
            if rc == 0 and out.strip():
                return "chromium-browser"
        return "chromium"

    def display_manager(self) -> bool:
        """A desktop login manager (lightdm) owns the screen."""
        return self.exists("/etc/systemd/system/display-manager.service")

    def venv_has_system_site_packages(self, venv: str) -> bool | None:
        cfg = self.read(f"{venv}/pyvenv.cfg")
        if cfg is None:
            return None
        for line in cfg.decode("utf-8", "replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "include-system-site-packages":
                return value.strip().lower() == "true"
        return False
