"""Synthetic scans of built papers, and the truth they were drawn from.

A built exam page is rendered (pypdfium2), marks are drawn on its boxes in
one of several styles, and the page goes through what a scanner and a hand
do to it: rotation, scale and offset, blur, noise, JPEG, a resolution, turned
upside down. Every box's intended meaning is recorded, so each decision of
`mmexam scan` can be checked against it.

Styles and what they mean:
    tick, cross, shade, pencil    ticked (shade: a box shaded in loosely)
    fill                          cancelled (a box filled in completely)
    stray                         a mark beside the box, not in it: empty
    none                          empty
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFilter

from mmexam.paperlayout import Box, PageLayout

MM = 72 / 25.4
BED = 12 * MM  # scanner bed seen around the page, each side (points)
TICKED = ("tick", "cross", "shade", "pencil")
STYLES = (*TICKED, "fill", "stray", "none")
MEANING = {**{s: "ticked" for s in TICKED}, "fill": "cancelled", "stray": "empty", "none": "empty"}


@dataclass
class Degrade:
    """What the scanner does to a page."""

    dpi: int = 200
    angle: float = 0.0  # degrees, counter-clockwise
    scale: float = 1.0
    offset: tuple[float, float] = (0.0, 0.0)  # mm
    blur: float = 0.0  # Gaussian radius, pixels
    noise: float = 0.0  # grey levels (standard deviation)
    jpeg: int | None = None  # quality
    upside_down: bool = False

    @classmethod
    def random(cls, rng: random.Random, dpi: int | None = None) -> Degrade:
        return cls(
            dpi=dpi or rng.choice((150, 200, 300)),
            angle=rng.uniform(-4, 4),
            scale=rng.uniform(0.97, 1.03),
            offset=(rng.uniform(-4, 4), rng.uniform(-4, 4)),
            blur=rng.choice((0.0, 0.6, 1.0)),
            noise=rng.choice((0.0, 5.0, 9.0)),
            jpeg=rng.choice((None, 40, 75)),
            upside_down=rng.random() < 0.15,
        )


@dataclass
class Marked:
    """A synthetic scan of one page and the truth it was drawn from."""

    image: Image.Image
    page: int
    truth: dict[tuple[str, int, int], str] = field(default_factory=dict)  # (number, column, index)


def render(pdf: pdfium.PdfDocument, index: int, dpi: int) -> Image.Image:
    return pdf[index].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")


def _pen(rng: random.Random, style: str) -> tuple[int, float]:
    if style == "pencil":  # light grey and thin: still a tick
        return rng.randint(105, 150), rng.uniform(0.25, 0.35) * MM
    return rng.randint(10, 70), rng.uniform(0.35, 0.6) * MM


def draw_mark(
    draw: ImageDraw.ImageDraw, box: Box, style: str, px: float, rng: random.Random
) -> None:
    """Draw one mark on a box (page points scaled by `px` pixels per point)."""
    if style == "none":
        return
    ink, width = _pen(rng, style)
    s = box.w
    cx = box.x + s / 2 + rng.uniform(-0.08, 0.08) * s
    cy = box.y + s / 2 + rng.uniform(-0.08, 0.08) * s
    size = rng.uniform(0.85, 1.2) * s

    def P(u: float, v: float) -> tuple[float, float]:  # box-relative (-0.5..0.5) to pixels
        return ((cx + u * size) * px, (cy + v * size) * px)

    w = max(1, round(width * px))
    if style in ("tick", "pencil"):
        draw.line([P(-0.35, 0.0), P(-0.1, 0.35), P(0.45, -0.45)], fill=ink, width=w, joint="curve")
    elif style == "cross":
        draw.line([P(-0.4, -0.4), P(0.4, 0.4)], fill=ink, width=w)
        draw.line([P(-0.4, 0.4), P(0.4, -0.4)], fill=ink, width=w)
    elif style == "shade":  # loose zig-zag shading over most of the box
        step = rng.uniform(2.6, 3.6) * width / size
        v, points = -0.38, []
        while v < 0.38:
            points += [P(-0.38, v), P(0.38, v + step / 2)]
            v += step
        draw.line(points, fill=ink, width=w)
    elif style == "fill":  # filled in completely, over the edges
        m = rng.uniform(0.05, 0.15) * s
        rect = [(box.x - m) * px, (box.y - m) * px, (box.x + s + m) * px, (box.y + s + m) * px]
        draw.rectangle(rect, fill=ink)
    elif style == "stray":  # a mark beside the box: on the option's letter and text
        x0 = (box.x + s * 1.6) * px
        draw.line(
            [(x0, (box.y + s * 0.3) * px), (x0 + 6 * s * px, (box.y + s * 0.6) * px)],
            fill=ink,
            width=w,
        )


def mark_page(
    clean: Image.Image, layout: PageLayout, px: float, rng: random.Random, plan: dict | None = None
) -> Marked:
    """Marks on every box of a page: per question one or two styles, the rest empty."""
    image = clean.copy()
    draw = ImageDraw.Draw(image)
    marked = Marked(image, layout.page)
    groups: dict[tuple[str, int], list[Box]] = {}
    for box in layout.boxes:
        groups.setdefault((box.number, box.column), []).append(box)
    for key, boxes in groups.items():
        chosen = plan.get(key) if plan else None
        if chosen is None:
            chosen = {}
            picks = rng.sample(range(len(boxes)), k=min(len(boxes), rng.choice((0, 1, 1, 1, 2))))
            for n in picks:
                chosen[boxes[n].index] = rng.choice(STYLES)
        for box in boxes:
            style = chosen.get(box.index, "none")
            draw_mark(draw, box, style, px, rng)
            marked.truth[(box.number, box.column, box.index)] = MEANING[style]
    return marked


def degrade(image: Image.Image, how: Degrade, rendered_dpi: int, rng: random.Random) -> Image.Image:
    """What the scanner does: resample to its dpi with rotation, scale and offset; blur,
    noise, JPEG; upside down."""
    factor = how.dpi / rendered_dpi * how.scale
    w, h = image.size
    # The scanner's frame is the page and some of its bed around it (a skewed page
    # stays inside it, as on a flatbed or an oversize feeder scan).
    bed = 2 * BED * how.dpi / 72
    out_w = round(w * how.dpi / rendered_dpi + bed)
    out_h = round(h * how.dpi / rendered_dpi + bed)
    a = math.radians(how.angle)
    cos, sin = math.cos(a) / factor, math.sin(a) / factor
    # Output pixel (u, v) -> input pixel: rotate about the centre, scale, shift.
    ox = how.offset[0] * MM * how.dpi / 72
    oy = how.offset[1] * MM * how.dpi / 72
    cu, cv = out_w / 2 + ox, out_h / 2 + oy
    coefficients = (cos, sin, w / 2 - cos * cu - sin * cv, -sin, cos, h / 2 + sin * cu - cos * cv)
    out = image.transform(
        (out_w, out_h),
        Image.Transform.AFFINE,
        coefficients,
        resample=Image.Resampling.BILINEAR,
        fillcolor=rng.randint(235, 255),
    )
    if how.blur:
        out = out.filter(ImageFilter.GaussianBlur(how.blur))
    if how.noise:  # a seeded tile of Gaussian noise, repeated over the page (cheap)
        tile = np.random.default_rng(rng.randint(0, 2**31)).normal(0, how.noise, (509, 503))
        h, w = out.size[1], out.size[0]
        reps = (-(-h // tile.shape[0]), -(-w // tile.shape[1]))
        noise = np.tile(tile.astype(np.int16), reps)[:h, :w]
        pixels = np.asarray(out, dtype=np.int16) + noise
        out = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if how.upside_down:
        out = out.transpose(Image.Transpose.ROTATE_180)
    if how.jpeg:
        buffer = io.BytesIO()
        out.save(buffer, format="JPEG", quality=how.jpeg)
        out = Image.open(io.BytesIO(buffer.getvalue()))
        out.load()
    return out


def save(image: Image.Image, path: Path, how: Degrade) -> Path:
    """Write a scan as the scanner would: JPEG when it was one, else PNG; with its dpi."""
    if how.jpeg:
        path = path.with_suffix(".jpg")
        image.save(path, format="JPEG", quality=how.jpeg, dpi=(how.dpi, how.dpi))
    else:
        path = path.with_suffix(".png")
        image.save(path, format="PNG", dpi=(how.dpi, how.dpi))
    return path
