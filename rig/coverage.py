"""The coverage map of a stack: for each tile of the image, which slices are sharp there.

Fed with each good shot's per-tile sharpness (:class:`rig.frame_checks.Measure`). It finds the
bands of depth no slice covers: a slice whose tiles are as sharp, tile for tile, as the slice
before it was shot where that one was (a skipped move, lost steps), so the depth it should have
covered has no sharp slice. :meth:`CoverageMap.gaps` gives their positions; the sequencer shoots
them after the last slice, before the rail returns (gap fill).

:meth:`CoverageMap.figures` is what ``stack.json`` records (``coverage``) and the phone shows;
:meth:`CoverageMap.png` draws it (``coverage.png``): each tile coloured by the slice where it is
sharpest, near to far from dark blue to yellow, grey where the image has no detail.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rig.frame_checks import GRID, TEXTURE_FLOOR, Measure

EPS = 0.5
SHARP = 0.7  # a slice is sharp in a tile at this fraction of the tile's best
DUPLICATE_NEAR = 0.7  # slice k this much nearer k-1 than k+1 ...
DUPLICATE_ACROSS = 1.15  # ... and k-1 no further from k+1 than this: k was shot where k-1 was
SAME_TILES = 2.0  # ... and k's tile sharpness no further from k-1's than this times the run's two closest slices
TILE_PX = 40  # coverage.png: pixels per tile


def _distance(a: Entry, b: Entry) -> float:
    return float(np.mean(np.abs(a.measure.thumb - b.measure.thumb)))


def _tile_distance(a: Entry, b: Entry) -> float:
    """How far apart two slices' sharpness is, tile for tile (mean absolute log ratio): two shots
    at the same depth differ by their noise only."""
    return float(np.mean(np.abs(np.log((a.tiles + EPS) / (b.tiles + EPS)))))


@dataclass(frozen=True)
class Entry:
    index: int
    position: float
    measure: Measure
    gap_fill: bool

    @property
    def tiles(self) -> np.ndarray:
        return self.measure.tiles


class CoverageMap:
    def __init__(self) -> None:
        self._entries: list[Entry] = []

    def add(self, index: int, position: float, m: Measure, gap_fill: bool = False) -> None:
        self._entries.append(Entry(index, position, m, gap_fill))

    def __len__(self) -> int:
        return len(self._entries)

    def nearest(self, position: float) -> Measure | None:
        """The good shot nearest ``position`` as a measure, for checking a gap-fill shot."""
        if not self._entries:
            return None
        return min(self._entries, key=lambda e: abs(e.position - position)).measure

    def _stack(self) -> tuple[list[Entry], np.ndarray]:
        entries = sorted(self._entries, key=lambda e: e.position)
        return entries, np.stack([e.tiles for e in entries]) if entries else np.zeros((0, GRID[1], GRID[0]))

    def gaps(self) -> list[float]:
        """Positions (as planned) whose slice shows the depth of the slice shot before it.

        Slices are compared on their thumbnails (mean absolute difference). Slice k shot where
        slice k-1 was is as far from slice k+1 as k-1 is, and much nearer k-1 than k+1; a slice
        in its place lies between them, so k-1 and k+1 are clearly further apart than k and k+1.

        That shape alone also fits a slice just past the subject's far end (defocus is symmetric:
        the slices either side of it are both blurred there) and, where the thumbnails hardly
        change (well beyond the subject), noise. So k must also match k-1 in sharpness tile for
        tile as closely as two shots of the same depth do: within ``SAME_TILES`` times the
        closest two successive slices of the run (the repeated slice itself, when there is one)."""
        shots = [e for e in self._entries if not e.gap_fill]  # in the order they were shot
        if len(shots) < 3:
            return []
        floor = min(_tile_distance(a, b) for a, b in zip(shots, shots[1:], strict=False))
        found: list[float] = []
        for before, this, after in zip(shots, shots[1:], shots[2:], strict=False):
            near = _distance(before, this)
            far = _distance(this, after)
            across = _distance(before, after)
            same = _tile_distance(before, this) <= SAME_TILES * floor
            if near < DUPLICATE_NEAR * far and across < DUPLICATE_ACROSS * far and same:
                found.append(this.position)
        covered = {e.position for e in self._entries if e.gap_fill}
        return [p for p in found if p not in covered]

    def best_slices(self) -> np.ndarray:
        """Per tile, the index of the slice where it is sharpest (0 where the image has no detail)."""
        entries, tiles = self._stack()
        if not entries:
            return np.zeros((GRID[1], GRID[0]), np.int32)
        indices = np.array([e.index for e in entries])
        best = indices[np.argmax(tiles, axis=0)]
        return np.where(tiles.max(axis=0) > TEXTURE_FLOOR, best, 0).astype(np.int32)

    def figures(self, gaps: list[float] | None = None, filled: list[float] | None = None) -> dict[str, object]:
        """What ``stack.json``'s ``coverage`` and the phone show."""
        entries, tiles = self._stack()
        best = self.best_slices()
        sharp_tiles: dict[int, int] = {}
        if entries:
            rel = tiles / (tiles.max(axis=0) + EPS)
            detail = tiles.max(axis=0) > TEXTURE_FLOOR
            for e, r in zip(entries, rel, strict=True):
                sharp_tiles[e.index] = int(((r >= SHARP) & detail).sum())
        return {
            "tiles": [GRID[0], GRID[1]],
            "best_slice": best.tolist(),
            "detail_fraction": round(float((best > 0).mean()), 3),
            "sharp_tiles": [sharp_tiles[k] for k in sorted(sharp_tiles)],
            "gaps": list(gaps or []),
            "filled": list(filled or []),
        }

    def png(self) -> bytes:
        """``coverage.png``: each tile coloured by its sharpest slice; grey where there is no detail."""
        best = self.best_slices()
        top = max(1, int(best.max()))
        levels = np.clip(best * 255 // top, 0, 255).astype(np.uint8)
        img = cv2.applyColorMap(levels, cv2.COLORMAP_VIRIDIS)
        img[best == 0] = (96, 96, 96)
        img = cv2.resize(img, (GRID[0] * TILE_PX, GRID[1] * TILE_PX), interpolation=cv2.INTER_NEAREST)
        img[::TILE_PX, :] = 0
        img[:, ::TILE_PX] = 0
        ok, buf = cv2.imencode(".png", img)
        if not ok:
            raise ValueError("could not encode the coverage map")
        return bytes(buf.tobytes())
