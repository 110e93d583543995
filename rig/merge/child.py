"""Run a merge in a child process, so a merge can never stall or crash the process driving the rail.

>>> job = start_merge("stacks/0007", "stacks/0007/merged.tif", depthmap="stacks/0007/depth.png")
>>> while not job.done():
...     show(job.progress())
>>> path = job.result()          # raises MergeError with the child's one-line message on failure

The child is ``python -m rig.merge INPUT -o OUT --progress lines``; its arguments and the
``PROGRESS``/``DONE``/``ERROR`` lines it prints on stdout are :mod:`rig.merge.command`'s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

from rig.errors import MergeError
from rig.merge.command import DONE, ERROR, ERROR_PREFIX, PROGRESS, child_argv, parse_line
from rig.paths import temp_files


class MergeJob:
    """Handle on a merge running in a child process. Thread-safe; never blocks except ``result``."""

    def __init__(self, cmd: list[str], out_path: Path) -> None:
        self.out_path = out_path
        self.cmd = cmd
        self._progress = 0.0
        self._stage = "starting"
        self._stderr: list[str] = []
        self._error: str | None = None  # the child's ERROR line
        self._cancelled = False
        self._lock = threading.Lock()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self._proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,  # a Ctrl-C on the parent's terminal does not reach the child
        )
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        with self._proc.stdout:  # closed when the child's output ends: no pipe left for the GC
            for text in self._proc.stdout:
                self._take(text)

    def _take(self, text: str) -> None:
        line = parse_line(text)
        if line is None:
            return
        with self._lock:
            if line.kind == PROGRESS:
                self._progress = max(self._progress, min(1.0, line.fraction))
                self._stage = line.text
            elif line.kind == ERROR:
                self._error = line.text
            elif line.kind == DONE:
                self._stage = "done"

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        with self._proc.stderr:
            for line in self._proc.stderr:
                with self._lock:
                    self._stderr.append(line.rstrip("\n"))
                    del self._stderr[:-50]

    def progress(self) -> float:
        """Fraction done, 0..1 (1.0 only once the output file is in place)."""
        with self._lock:
            p = self._progress
        if self._proc.poll() is None:
            return min(p, 0.999)
        return 1.0 if self._proc.returncode == 0 else p

    def stage(self) -> str:
        """What the child is doing now, e.g. ``"focus 3/20"``."""
        with self._lock:
            return self._stage

    def done(self) -> bool:
        """True once the child has exited (successfully or not)."""
        return self._proc.poll() is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the child; True if it has exited."""
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def result(self, timeout: float | None = None) -> Path:
        """Wait for the child and return the output path; raise :class:`MergeError` if it failed."""
        try:
            rc = self._proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise MergeError(f"{self.out_path}: merge still running after {timeout}s") from exc
        for t in self._threads:
            t.join(5)
        if rc == 0:
            return self.out_path
        if self._cancelled:
            raise MergeError(f"{self.out_path}: merge cancelled")
        with self._lock:
            error = self._error
            errors = [ln for ln in self._stderr if ln.startswith(ERROR_PREFIX)]
            tail = self._stderr[-1] if self._stderr else ""
        if error or errors:
            raise MergeError(error or errors[-1][len(ERROR_PREFIX) :])
        self._remove_partial_output()
        if rc == -signal.SIGKILL:
            raise MergeError(
                f"{self.out_path}: the merge process was killed (SIGKILL), most likely by the kernel's "
                "out-of-memory killer: see docs/merge.md for the memory a merge needs"
            )
        raise MergeError(f"{self.out_path}: merge process failed (exit {rc}){': ' + tail if tail else ''}")

    def cancel(self, timeout: float = 5.0) -> None:
        """Stop the child (SIGTERM, then SIGKILL); no output file is left behind."""
        if self._proc.poll() is not None:
            return
        self._cancelled = True
        try:
            self._proc.send_signal(signal.SIGTERM)
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        except ProcessLookupError:
            pass
        self._remove_partial_output()

    def _remove_partial_output(self) -> None:
        """A hard kill can leave the writer's temp files: remove them."""
        for p in temp_files(self.out_path) + sorted(self.out_path.parent.glob(f".{self.out_path.name}.*.part")):
            try:
                p.unlink()
            except OSError:
                pass


def start_merge(
    input_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    depthmap: str | os.PathLike[str] | None = None,
    jpeg: str | os.PathLike[str] | None = None,
    align: bool = True,
    overwrite: bool = False,
    follow: bool = False,
    preview: str | os.PathLike[str] | None = None,
    extra_args: list[str] | None = None,
) -> MergeJob:
    """Start ``rig merge`` on ``input_dir`` in a child process and return its :class:`MergeJob`.

    With ``follow=True`` the child merges a rig stack folder while it is being captured (it
    starts before the first frame, follows ``stack.json`` and finishes shortly after the
    manifest's outcome becomes final).
    """
    cmd = child_argv(
        input_dir,
        out_path,
        depthmap=depthmap,
        jpeg=jpeg,
        align=align,
        overwrite=overwrite,
        follow=follow,
        preview=preview,
        extra_args=extra_args or (),
    )
    return MergeJob(cmd, Path(out_path))
