"""From page points to scan pixels: a first fit from the page's code, refined on the
four corner marks (an affine map: scale, rotation, shear and offset, as AMC does).

A mark is looked for where the code's fit puts it: the dark pixels of a
window around that place, then of a tighter window around their centre. A
mark found with the wrong amount of ink (a smudge, the scan's border) is not
used. With three or four marks the map is fitted to them (least squares);
with fewer, the code's map is kept and the page is flagged, so its boxes are
never decided silently on a rough fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmexam.paperlayout import ExamLayout, Rect

SEARCH = 6.0 * 72 / 25.4  # how far from where the code's fit puts a mark to look (points)
MAX_RESIDUAL = 1.5  # points: marks further than this from the fitted map make it doubtful
MAX_CODE_RESIDUAL = 5.0  # points: the code's corners (read to about a module) from the fit


@dataclass(frozen=True)
class Alignment:
    """The map from page points to scan pixels, and how much to trust it."""

    matrix: np.ndarray  # 2 x 3: pixel = matrix @ (x, y, 1)
    marks_found: int
    residual: float  # largest distance (points) of a used mark from the fit
    trusted: bool
    note: str = ""

    @property
    def pixels_per_point(self) -> float:
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        return points @ self.matrix[:, :2].T + self.matrix[:, 2]


def fit(page: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The affine map (2 x 3) that best sends `page` points (n x 2) onto `pixels` (n x 2)."""
    design = np.hstack([page, np.ones((len(page), 1))])
    solution, *_ = np.linalg.lstsq(design, pixels, rcond=None)
    return solution.T


def _corners(rect: Rect) -> np.ndarray:
    return np.array(
        [
            [rect.x, rect.y],
            [rect.x + rect.w, rect.y],
            [rect.x + rect.w, rect.y + rect.h],
            [rect.x, rect.y + rect.h],
        ],
        dtype=float,
    )


def _dark_centre(image: np.ndarray, centre: np.ndarray, half: float, level: float):
    """Centre and count of the pixels darker than `level` in a square window."""
    h, w = image.shape
    x0, x1 = int(max(0, centre[0] - half)), int(min(w, centre[0] + half + 1))
    y0, y1 = int(max(0, centre[1] - half)), int(min(h, centre[1] + half + 1))
    if x1 <= x0 or y1 <= y0:
        return None, 0
    ys, xs = np.nonzero(image[y0:y1, x0:x1] < level)
    if len(xs) == 0:
        return None, 0
    return np.array([xs.mean() + x0, ys.mean() + y0]), len(xs)


def find_mark(image: np.ndarray, guess: np.ndarray, mark: Rect, scale: float, level: float):
    """A corner mark's centre in pixels, or None when no mark-sized blob is near `guess`."""
    area = mark.w * mark.h * scale * scale
    centre, count = _dark_centre(image, guess, SEARCH * scale, level)
    if centre is None or count < 0.4 * area:
        return None
    centre, count = _dark_centre(image, centre, 0.85 * mark.w * scale, level)
    if centre is None or not 0.6 * area <= count <= 1.5 * area:
        return None
    return centre


def align(
    image: np.ndarray, code_corners: np.ndarray, layout: ExamLayout, white: float
) -> Alignment:
    """Fit the page to the scan: the code first, then the corner marks."""
    rough = fit(_corners(layout.code), code_corners)
    scale = float(np.sqrt(abs(np.linalg.det(rough[:, :2]))))
    level = 0.5 * white
    page, found = [], []
    for mark in layout.marks:
        centre = np.array(mark.centre())
        guess = centre @ rough[:, :2].T + rough[:, 2]
        spot = find_mark(image, guess, mark, scale, level)
        if spot is not None:
            page.append(centre)
            found.append(spot)
    if len(found) < 3:
        note = f"only {len(found)} of 4 corner marks found: aligned by the code alone"
        return Alignment(rough, len(found), float("inf"), False, note)
    page_points, pixels = np.array(page), np.array(found)
    matrix = fit(page_points, pixels)
    residual = _residual(matrix, page_points, pixels)
    if len(found) == 4 and residual > MAX_RESIDUAL:  # one bad mark: fit the best three
        best = min(
            (np.delete(np.arange(4), k) for k in range(4)),
            key=lambda keep: _residual(fit(page_points[keep], pixels[keep]), page_points, pixels),
        )
        matrix = fit(page_points[best], pixels[best])
        residual = _residual(matrix, page_points[best], pixels[best])
    # The code must land where the marks say it is: else a mark was a smudge.
    code_residual = _residual(matrix, _corners(layout.code), code_corners)
    trusted = residual <= MAX_RESIDUAL and code_residual <= MAX_CODE_RESIDUAL
    note = ""
    if residual > MAX_RESIDUAL:
        note = f"corner marks disagree by {residual:.1f} pt"
    elif not trusted:
        note = f"corner marks and code disagree by {code_residual:.1f} pt"
    return Alignment(matrix, len(found), residual, trusted, note)


def _residual(matrix: np.ndarray, page: np.ndarray, pixels: np.ndarray) -> float:
    predicted = page @ matrix[:, :2].T + matrix[:, 2]
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    return float(np.max(np.linalg.norm(predicted - pixels, axis=1)) / scale)
