"""How dark is each tick box, and what does that mean: ticked, empty, cancelled or a doubt.

Darkness is the share of a box's inside covered by ink, its printed outline
left out (AMC's black-pixel ratio, made blur-proof): the inside, `INSET`
points in from the box's edge, is sampled on a grid through the page-to-scan
map, so rotation and scale cost nothing. A sample counts 0 at `PAPER` x the
paper's white or lighter (grain, noise), 1 at `ink` x white or darker, and
in between in proportion, so a thin pencil line blurred over more, lighter
pixels keeps its weight. Each decision has
two thresholds, as NOPS does, and what falls between them is a doubt for a
person, never a guess:

    darkness < empty                 empty
    empty <= darkness < tick         ambiguous
    tick <= darkness < cancel        ticked
    cancel <= darkness < cancelled   ambiguous
    darkness >= cancelled            cancelled (a box filled in completely takes a tick back)

A stray mark outside a box is never looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from mmexam.paperlayout import Rect

Decision = Literal["ticked", "empty", "ambiguous", "cancelled"]
INSET = 1.6  # points in from a box's edge: the 0.6 pt outline, blur and a pixel of fit left out
GRID = 12  # samples per side of a box's inside
PAPER = 0.90  # a sample this light (x the paper's white) is paper


@dataclass(frozen=True)
class Thresholds:
    """Where darkness changes meaning. Defaults measured on the synthetic scans of
    tests/scan (benchmarks/scan_accuracy.py): thin pen ticks cover 0.2-0.5 of a box,
    crosses 0.3-0.6, shaded boxes 0.5-0.75, boxes filled in to cancel 0.9-1."""

    empty: float = 0.06
    tick: float = 0.14
    cancel: float = 0.78
    cancelled: float = 0.90
    ink: float = 0.55

    def check(self) -> None:
        if not 0 < self.empty <= self.tick < self.cancel <= self.cancelled <= 1:
            raise ValueError(
                "thresholds must rise: 0 < empty <= tick < cancel <= cancelled <= 1, got "
                f"{self.empty}, {self.tick}, {self.cancel}, {self.cancelled}"
            )
        if not 0 < self.ink < 1:
            raise ValueError(
                f"ink must be between 0 and 1 (a share of the paper's white), got {self.ink}"
            )


def decide(darkness: float, limits: Thresholds) -> Decision:
    if np.isnan(darkness):
        return "ambiguous"
    if darkness < limits.empty:
        return "empty"
    if darkness < limits.tick:
        return "ambiguous"
    if darkness < limits.cancel:
        return "ticked"
    if darkness < limits.cancelled:
        return "ambiguous"
    return "cancelled"


def paper_white(image: np.ndarray) -> float:
    """The paper's grey level: a high percentile of a sparse sample of the page."""
    sample = image[:: max(1, image.shape[0] // 200), :: max(1, image.shape[1] // 150)]
    return float(max(np.percentile(sample, 90), 64.0))


def _grid(rect: Rect, inset: float) -> np.ndarray:
    steps = (np.arange(GRID) + 0.5) / GRID
    xs = rect.x + inset + steps * (rect.w - 2 * inset)
    ys = rect.y + inset + steps * (rect.h - 2 * inset)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def darkness(
    image: np.ndarray, matrix: np.ndarray, boxes: list[Rect], white: float, ink: float
) -> np.ndarray:
    """The share of ink inside each box (one number per box, 0..1)."""
    if not boxes:
        return np.zeros(0)
    points = np.concatenate([_grid(box, INSET) for box in boxes])
    pixels = points @ matrix[:, :2].T + matrix[:, 2]
    h, w = image.shape
    xs = np.clip(np.rint(pixels[:, 0]).astype(int), 0, w - 1)
    ys = np.clip(np.rint(pixels[:, 1]).astype(int), 0, h - 1)
    inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < w) & (pixels[:, 1] >= 0) & (pixels[:, 1] < h)
    values = image[ys, xs].astype(float)
    # Ink mass, not a count of black pixels: blur spreads a thin pencil line over more,
    # lighter pixels and keeps its mass. Paper (and its noise) counts 0, ink 1.
    paper, full = PAPER * white, ink * white
    dark = np.clip((paper - values) / (paper - full), 0.0, 1.0)
    dark = dark.reshape(len(boxes), GRID * GRID).mean(axis=1)
    # A box the scan cut off is not empty: it is unknown (NaN, decided "ambiguous").
    return np.where(inside.reshape(len(boxes), GRID * GRID).all(axis=1), dark, np.nan)
