"""Scanned pages in: PDFs rasterised in-process (pypdfium2), images read with Pillow.

A file is recognised by its first bytes, not its name. Each page comes out as
a grey image (uint8, 0 black .. 255 white) with where it came from; a file
that cannot be read becomes one `BadInput` line and the other files go on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_DPI = 200
"""Resolution PDFs are rendered at: a 13 mm code and 3 mm boxes read reliably."""
MAX_PIXELS = 120_000_000
"""Largest image read (a 600 dpi A3 page is ~70 Mpx): guards against decompression bombs."""


@dataclass
class Page:
    """One scanned page: its pixels and where it came from."""

    source: str  # "file.pdf page 3", "scan.png"
    image: np.ndarray  # grey, uint8
    dpi: float | None = None  # as rendered or as the file says; None: unknown


@dataclass(frozen=True)
class BadInput:
    """A file (or one page of one) that could not be read."""

    source: str
    message: str


def _kind(head: bytes) -> str | None:
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"GIF8")):
        return "image"
    return None


def read_pages(paths: list[Path], dpi: int = DEFAULT_DPI) -> Iterator[Page | BadInput]:
    """Every page of every file, in the order given (folders: their files, sorted)."""
    for path in expand(paths):
        try:
            with path.open("rb") as handle:
                head = handle.read(8)
        except OSError as error:
            yield BadInput(str(path), f"cannot be read ({error.strerror or error})")
            continue
        kind = _kind(head)
        if kind == "pdf":
            yield from _pdf_pages(path, dpi)
        elif kind == "image":
            yield from _image_pages(path)
        else:
            yield BadInput(str(path), "not a PDF or an image (PNG, JPEG, TIFF): skipped")


def expand(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for the files in it (sorted, hidden ones skipped)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        else:
            files.append(path)
    return files


def units(paths: list[Path]) -> Iterator[tuple[Path, int | None] | BadInput]:
    """Work to share out: each page of each PDF, each image file (all its frames)."""
    import pypdfium2 as pdfium

    for path in expand(paths):
        try:
            with path.open("rb") as handle:
                kind = _kind(handle.read(8))
        except OSError as error:
            yield BadInput(str(path), f"cannot be read ({error.strerror or error})")
            continue
        if kind is None:
            yield BadInput(str(path), "not a PDF or an image (PNG, JPEG, TIFF): skipped")
        elif kind == "image":
            yield (path, None)
        else:
            try:
                pdf = pdfium.PdfDocument(str(path))
            except pdfium.PdfiumError as error:
                yield BadInput(str(path), f"a damaged PDF that cannot be opened ({error})")
                continue
            count = len(pdf)
            pdf.close()
            yield from ((path, index) for index in range(count))


def unit_pages(unit: tuple[Path, int | None], dpi: int) -> Iterator[Page | BadInput]:
    """The pages of one unit of work (see `units`)."""
    path, index = unit
    if index is None:
        yield from _image_pages(path)
    else:
        yield from _pdf_pages(path, dpi, index)


def _pdf_pages(path: Path, dpi: int, only: int | None = None) -> Iterator[Page | BadInput]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        yield BadInput(str(path), f"a damaged PDF that cannot be opened ({error})")
        return
    try:
        for index in range(len(pdf)) if only is None else [only]:
            where = f"{path} page {index + 1}"
            try:
                bitmap = pdf[index].render(scale=dpi / 72, grayscale=True)
                image = bitmap.to_numpy()
            except pdfium.PdfiumError as error:
                yield BadInput(where, f"cannot be rendered ({error})")
                continue
            if image.ndim == 3:  # some builds give one channel as a third axis
                image = image[:, :, 0]
            yield Page(where, np.ascontiguousarray(image), float(dpi))
    finally:
        pdf.close()


def _image_pages(path: Path) -> Iterator[Page | BadInput]:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(path) as image:
            frames = max(1, getattr(image, "n_frames", 1))
            for n, frame in enumerate(ImageSequence.Iterator(image)):
                where = str(path) if frames == 1 else f"{path} page {n + 1}"
                dpi = frame.info.get("dpi")
                grey = np.asarray(frame.convert("L"))
                yield Page(where, grey, float(dpi[0]) if dpi and dpi[0] > 1 else None)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        yield BadInput(str(path), f"a damaged image that cannot be decoded ({error})")
    except Image.DecompressionBombError:
        yield BadInput(str(path), f"an image of more than {MAX_PIXELS:,} pixels: skipped")
