"""One exception tree for the whole project.

Every error a user can cause or meet derives from :class:`RigError` and carries a
one-line message that names what is wrong. ``exit_code`` is what the CLI returns and
``http_status`` what the web API answers.
"""

from __future__ import annotations


class RigError(Exception):
    """Base of every error the rig raises on purpose."""

    exit_code = 1
    http_status = 500


class ConfigError(RigError):
    """A machine config or profile file (or option) is malformed or out of range."""

    exit_code = 2
    http_status = 400


class UsageError(RigError):
    """Bad input from the user: an option, a template, a path."""

    exit_code = 2
    http_status = 400


class StateError(RigError):
    """The current state forbids the action (start while running, cancel while idle)."""

    exit_code = 2
    http_status = 409


class StorageError(RigError):
    """A frame or manifest could not be saved safely."""

    http_status = 500


class MotionError(RigError):
    """The rail failed: timeout, lost link, limit switch, e-stop."""

    http_status = 500


class LimitError(MotionError):
    """A limit switch tripped or a target lies outside the soft limits."""


class CameraError(RigError):
    """The camera failed: unplugged, timeout, card full, corrupt download."""

    http_status = 500


class FrameMissing(CameraError):
    """The camera fired but delivered no file (a dropped capture): the shot can be taken again."""


class FrameCheckFailed(RigError):
    """A slice got no good shot within its retries (profile ``on_failed_check = "fail"``)."""


class Cancelled(RigError):
    """The user cancelled; not a fault."""

    exit_code = 130


class Fault(RigError):
    """A fault put the rig in its safe state."""


class MergeError(RigError):
    """A merge input or output is unusable."""

    exit_code = 2
    http_status = 400


class BackendUnavailable(RigError):
    """A hardware backend's library is missing on this machine."""

    exit_code = 2
    http_status = 503
