"""What a stack is of: the specimen's name, catalogue number and notes, and the session (project)
that groups specimens. Entered per stack (``rig stack --name``, the Stack page), kept exactly in
``stack.json`` (``specimen``), and made safe for file names for the ``@NAME`` and ``@SESSION``
template tokens (:func:`safe_component`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rig.errors import UsageError

TEXT_MAX = {"name": 120, "catalogue_number": 64, "notes": 2000, "session": 120}  # characters, as typed
COMPONENT_MAX = 80  # bytes of the file-name form of a name or a session
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


@dataclass(frozen=True)
class Specimen:
    """One stack's specimen. Every field may be None; :meth:`checked` tells what is wrong."""

    name: str | None = None
    catalogue_number: str | None = None
    notes: str | None = None
    session: str | None = None

    @property
    def empty(self) -> bool:
        return not any((self.name, self.catalogue_number, self.notes, self.session))

    @classmethod
    def of(
        cls,
        name: str | None = None,
        catalogue_number: str | None = None,
        notes: str | None = None,
        session: str | None = None,
    ) -> Specimen:
        """A checked specimen from typed text (surrounding blanks dropped, empty text is None).
        Raises :class:`UsageError` with a one-line reason."""

        def clean(value: str | None) -> str | None:
            return (value.strip() or None) if isinstance(value, str) else None

        specimen = cls(clean(name), clean(catalogue_number), clean(notes), clean(session))
        specimen.checked()
        return specimen

    def checked(self) -> Specimen:
        for key, limit in TEXT_MAX.items():
            value = getattr(self, key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise UsageError(f"specimen {key} must be text")
            if len(value) > limit:
                raise UsageError(f"specimen {key} is too long ({len(value)} characters; at most {limit})")
            if "\x00" in value or (key != "notes" and any(c in value for c in "\r\n")):
                raise UsageError(f"specimen {key} contains a control character")
        if self.name is not None:
            safe_component(self.name, "specimen name")
        if self.session is not None:
            safe_component(self.session, "session")
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "catalogue_number": self.catalogue_number,
            "notes": self.notes,
            "session": self.session,
        }

    @classmethod
    def from_json(cls, data: Any) -> Specimen | None:
        """The typed view of ``stack.json``'s ``specimen`` (None when it is not an object)."""
        if not isinstance(data, Mapping):
            return None

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        return cls(text("name"), text("catalogue_number"), text("notes"), text("session"))

    def search_text(self) -> str:
        """All of it in one lower-case string, for the gallery's search."""
        return " ".join(v for v in (self.name, self.catalogue_number, self.notes, self.session) if v).lower()


def safe_component(text: str, what: str = "specimen name") -> str:
    """``text`` made safe as one folder or file name: accents dropped, anything but letters,
    digits and ``_.+-`` becomes ``_``, no leading dot. Raises :class:`UsageError` when nothing
    is left, when only dots are left, or when it is too long."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    safe = _UNSAFE.sub("_", ascii_text.strip()).strip("_")
    if not safe or not safe.strip("._"):
        kind = "only dots" if safe and not safe.strip(".") else "empty"
        raise UsageError(f"{what} {text!r} is {kind} once made safe for a file name; use letters or digits")
    safe = safe.lstrip(".")
    if len(safe.encode()) > COMPONENT_MAX:
        raise UsageError(f"{what} {text[:40]!r}... is too long for a file name (at most {COMPONENT_MAX} characters)")
    return safe
