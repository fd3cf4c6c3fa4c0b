"""Which page is this? Its QR code, read with zxing-cpp.

The code's four corners come back too: with where the code is printed
(layout.json) they give a first map from the page to the scan, whatever its
rotation (an upside-down page has its code's first corner bottom-right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import zxingcpp

from mmexam.paperlayout import PageCode, parse_code

QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


@dataclass(frozen=True)
class Found:
    """A code read on a page: its text, its fields (None: not an mmexam code) and corners."""

    text: str
    code: PageCode | None
    corners: np.ndarray  # 4 x 2 pixels: the symbol's top-left, top-right, bottom-right, bottom-left


def read_code(image: np.ndarray) -> Found | None:
    """The page's code: an mmexam code if there is one, else any QR code, else None."""
    results = zxingcpp.read_barcodes(image, formats=QR, try_downscale=True, try_invert=False)
    found = [_found(r) for r in results if r.valid]
    ours = [f for f in found if f.code is not None]
    if ours:
        return ours[0]
    return found[0] if found else None


def _found(result: zxingcpp.Barcode) -> Found:
    p = result.position
    corners = np.array(
        [
            [p.top_left.x, p.top_left.y],
            [p.top_right.x, p.top_right.y],
            [p.bottom_right.x, p.bottom_right.y],
            [p.bottom_left.x, p.bottom_left.y],
        ],
        dtype=float,
    )
    return Found(result.text, parse_code(result.text), corners)
