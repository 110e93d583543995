"""The names of a stack's merge results, spelled once: the merged TIFF, its JPEG copy and the
depth map, written beside the frames in the run folder. The web API serves them (a stack's
``result_names``), so no client spells them either."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ResultNames:
    image: str = "merged.tif"  # the merged image (16-bit when the slices are)
    jpeg: str = "merged.jpg"  # an 8-bit JPEG copy of it
    depth: str = "depth.png"  # the depth map, near = dark

    @property
    def names(self) -> tuple[str, str, str]:
        return (self.image, self.jpeg, self.depth)

    def paths(self, folder: Path) -> tuple[Path, Path, Path]:
        """(image, jpeg, depth) in ``folder``."""
        return (folder / self.image, folder / self.jpeg, folder / self.depth)

    def to_json(self) -> dict[str, str]:
        return {"image": self.image, "jpeg": self.jpeg, "depth": self.depth}


RESULTS = ResultNames()


PREVIEW = "merge-preview.jpg"  # the merge's result so far while it runs (rig.merge.preview); removed when it ends
