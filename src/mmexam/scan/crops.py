"""Upright pictures of parts of a scanned page: written answers, boxes to check, codes.

A rectangle in page points is cut out through the page-to-scan map (Pillow's
affine transform), so a rotated or shifted scan gives an upright crop.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mmexam.paperlayout import Rect

CROP_DPI = 150  # written answers: legible, a few hundred kB a page at most
ZOOM_DPI = 300  # a box and its neighbourhood, for the report


def crop(
    image: np.ndarray, matrix: np.ndarray, rect: Rect, margin: float = 4.0, dpi: int = CROP_DPI
) -> Image.Image:
    """The part of the scan showing `rect` (points) plus `margin` around it, upright."""
    scale = dpi / 72
    x0, y0 = rect.x - margin, rect.y - margin
    width = max(1, round((rect.w + 2 * margin) * scale))
    height = max(1, round((rect.h + 2 * margin) * scale))
    # Output pixel (u, v) is page point (x0 + u/scale, y0 + v/scale); Pillow wants the
    # source pixel of each output pixel: matrix @ that point.
    a, b, c = matrix[0]
    d, e, f = matrix[1]
    coefficients = (
        a / scale,
        b / scale,
        a * x0 + b * y0 + c,
        d / scale,
        e / scale,
        d * x0 + e * y0 + f,
    )
    source = Image.fromarray(image)
    return source.transform(
        (width, height),
        Image.Transform.AFFINE,
        coefficients,
        resample=Image.Resampling.BILINEAR,
        fillcolor=255,
    )


def png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=1)  # 5x faster than the default, ~20% larger
    return out.getvalue()
