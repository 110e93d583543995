"""Passes 2 and 3 warp a slice only inside the boxes where the depth map gives it weight: the boxes
must cover every such pixel (else the merge loses pixels), and skip slices far from the depth."""

from __future__ import annotations

import cv2
import numpy as np

from rig.merge.boxes import SliceBoxes


def test_boxes_cover_every_pixel_within_reach_and_skip_the_rest():
    rng = np.random.default_rng(3)
    h, w, n = 230, 310, 20
    # a depth step (3 | 15), a tilted plane and noisy blotches, like a real depth map
    depth = np.full((h, w), 3.0, np.float32)
    depth[:, 150:] = 15.0
    depth[150:, :] = np.linspace(0, n - 1, w, dtype=np.float32)[None, :]
    blotch = cv2.resize(rng.uniform(0, n - 1, (8, 10)).astype(np.float32), (100, 80), interpolation=cv2.INTER_NEAREST)
    depth[10:90, 20:120] = blotch
    for reach, pad in ((1.0, 7), (3.0, 0), (3.75, 0)):
        boxes = SliceBoxes(depth, n, reach, pad=pad, block=32)
        for k in range(n):
            need = (np.abs(depth - k) < reach).astype(np.uint8)
            if pad:
                need = cv2.dilate(need, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8))
            covered = np.zeros((h, w), np.uint8)
            for x0, y0, x1, y1 in boxes.boxes(k, max_size=64):
                assert x1 - x0 <= 64 and y1 - y0 <= 64
                assert covered[y0:y1, x0:x1].max() == 0  # no pixel warped twice
                covered[y0:y1, x0:x1] = 1
            assert (covered >= need).all(), (reach, k)
            assert boxes.any(k) == bool(need.any())
    # the step's top part (3 | 15, rows 90-150) needs no slice from 6 to 11: none is warped there
    top = SliceBoxes(depth[90:150], n, 1.0, pad=7, block=32)
    assert not any(top.any(k) for k in range(6, 12))
