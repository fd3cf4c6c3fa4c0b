"""A paper's pages: which typeset fragment goes where. Pure: views in, placements out.

Typst typesets; mmexam lays out. Every piece of a printed paper (the cover,
a part's heading, a question's text, its number and points, its options,
a code stub, an answer box, a key block, the header and the footer) is a
fragment: a page of the batch's fragment library (templates/fragments.typ.j2),
exactly as wide as the slot it fills. Papers of a roster share most of their
pieces and differ in order, so each piece is typeset once per batch and each
paper is only stacked here and written by `compose`. Letting Typst lay out
every paper costs about 70 ms of layout and 70 ms of PDF export per student
(exam and key), an order of magnitude more than stacking (benchmarks/build_roster.py).

`paper_flow` turns a paper view into a flow of blocks (registering their
fragments); once the library is compiled and its page sizes known,
`paginate` breaks the flow into pages and `decorate` adds the header, the
footer and "Page X of Y". The spacing follows what a Typst document of the
same content would use: block gaps in em of the 10.5 pt body text.

Two kinds of piece are known only once the pages are: a code answer box,
which runs to the foot of its page (`Fill`; at least as tall as the bank
asks, or it starts the next page and fills that), and "Page X of Y". Both
go in a second, small library typeset after pagination (`later`). A problem
or question that breaks across pages opens each new page with its
"(continued)" line (`Block.owner`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

EM = 10.5  # the body text size, in points
OPTION_INDENT = 2.5 * EM  # an option's text, right of its box and letter


@dataclass(frozen=True)
class Geometry:
    """The paper's page and columns, in points (A4)."""

    page_width: float = 595.276
    page_height: float = 841.89
    margin_x: float = 62.362  # 2.2 cm
    margin_top: float = 70.866  # 2.5 cm
    margin_bottom: float = 65.197  # 2.3 cm
    number: float = 26.0  # room for "1.10"
    label: float = 22.0  # room for "(a)"
    gutter: float = 6.0
    points: float = 54.0  # room for "[20 points]"
    part_indent: float = 32.0  # where a problem's parts start
    body0: float = 32.0  # where a question's options and answer space start
    body1: float = 60.0  # the same for a problem's part
    key_inset: float = 9.0
    stub_inset: float = 7.0

    @property
    def text_width(self) -> float:
        return self.page_width - 2 * self.margin_x

    @property
    def body_height(self) -> float:
        return self.page_height - self.margin_top - self.margin_bottom

    def widths(self) -> dict[str, float]:
        """Width of each fragment slot."""
        text0 = self.text_width - self.number - self.points - 2 * self.gutter
        return {
            "full": self.text_width,
            "text0": text0,
            "text1": text0 - self.part_indent - self.label + self.number,
            "column0": self.text_width - self.body0,
            "column1": self.text_width - self.body1,
            "option0": self.text_width - self.body0 - OPTION_INDENT,
            "option1": self.text_width - self.body1 - OPTION_INDENT,
        }

    def for_template(self) -> dict[str, float]:
        return {**asdict(self), **self.widths()}


GEOMETRY = Geometry()
WIDTHS = {slot: round(width, 3) for slot, width in GEOMETRY.widths().items()}


class Fragments:
    """The distinct pieces a batch of papers shows, one library page each."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._pages: dict[tuple[str, float | None, str], int] = {}

    def add(self, kind: str, slot: str | None, body: Any, qid: str = "") -> int:
        """Register a piece (once) to be typeset `slot` wide (None: as wide as its content);
        return its page in the library (1-based)."""
        width = WIDTHS[slot] if slot else None
        key = (kind, width, repr(body))  # the views build their dicts in one order
        page = self._pages.get(key)
        if page is None:
            self.items.append(
                {
                    "kind": kind,
                    "width": "auto" if width is None else width,
                    "body": body,
                    "qid": qid,
                }
            )
            page = self._pages[key] = len(self.items)
        return page


class Tag(NamedTuple):
    """What a scanner reads in a placed fragment (layout.json): an option's box ("box",
    its number and position), a written-answer region ("region", its number and kind)
    or the student-id grid ("idgrid")."""

    what: str
    number: str = ""
    position: int = 0  # an option's position as printed (0: a)
    kind: str = ""


class Beside(NamedTuple):
    """A fragment set on the first line of a piece: a question's number or its points."""

    fragment: int
    x: float  # its left edge ("left") or right edge ("right"), from the text column's left
    align: str
    tag: Tag | None = None


class Fill(NamedTuple):
    """An answer box that runs to the foot of its page: typeset after pagination, once its
    height is known (in the `later` library), ruled at `PITCH`."""

    slot: str
    least: float  # its smallest height, in points: with less room left it starts a page
    body: dict[str, Any]


class Piece(NamedTuple):
    """One fragment in the flow, and the space it wants above it."""

    fragment: int  # its page in the library (unused by a `fill`)
    x: float  # from the text column's left
    above: float
    beside: tuple[Beside, ...] = ()
    stick: bool = False  # on the same page as the next piece (a question's text, a key's answer)
    tag: Tag | None = None
    fill: Fill | None = None


class Block(NamedTuple):
    """Pieces that belong together: a question, a part's heading, the cover."""

    pieces: tuple[Piece, ...]
    below: float = 0.0
    keep: bool = False  # on one page when it fits on one
    new_page: bool = False  # starts a page (a part)
    at_bottom: bool = False  # set at the foot of the last page (the end line)
    owner: str = ""  # its problem or question ("Problem 3"), named on the pages it runs on to
    opens: bool = False  # the first block of that problem or question


class Placement(NamedTuple):
    """A fragment on a page: its top-left corner from the page's top-left, and its scale."""

    library: int  # 0: the batch's fragment library, 1: its page labels
    fragment: int
    x: float
    y: float
    scale: float = 1.0
    tag: Tag | None = None
    centred: bool = False  # a page label, centred once its width is known


# Spacing, in points.
QUESTION_ABOVE = (1.6 * EM, 1.2 * EM)  # a question, a problem's part
QUESTION_BELOW = 0.6 * EM
OPTIONS_ABOVE = 0.7 * EM
OPTION_GAP = 0.6 * EM
STUB_ABOVE = 0.7 * EM
LABEL_ABOVE = 0.85 * EM
SPACE_ABOVE = 0.9 * EM
FIELD_ABOVE = 0.7 * EM
KEY_ABOVE = 0.8 * EM
CONTINUED = 12.0  # the height kept for a page's "Problem N (continued)" line (9 pt text)
CONTINUED_BELOW = 0.6 * EM  # and the gap below it
PITCH = 0.8 / 2.54 * 72  # 0.8 cm: the rules of a code answer box, a handwriting line apart
FILL_STEP = 0.5  # a code box's height is rounded down to this (fewer distinct boxes)
TITLE_GAP = 0.5 / 2.54 * 72  # 0.5 cm
COVER_GAP = 0.4 / 2.54 * 72
ID_DIGITS = 8  # columns of the student-id grid on an anonymous version's cover
PART_BELOW = 1.1 * EM


def paper_flow(view: dict[str, Any], key: bool, fragments: Fragments) -> list[Block]:
    """The blocks of one paper (exam or key), top to bottom, their fragments registered."""
    heading = {k: view[k] for k in ("course", "title", "term")} | {"key": key}
    title = Piece(fragments.add("title", "full", heading), 0.0, 0.0)
    cover = Piece(fragments.add("cover", "full", _cover(view, key)), 0.0, TITLE_GAP)
    about = {"instructions": view["instructions"], "total": view["total"], "bonus": view["bonus"]}
    about["parts"] = [
        {k: p[k] for k in ("number", "title", "points", "bonus")} for p in view["parts"]
    ]
    instructions = Piece(fragments.add("instructions", "full", about), 0.0, COVER_GAP)
    first: tuple[Piece, ...] = (title, cover, instructions)
    if not key and not view["student"]:  # anonymous: the student ticks their id
        grid = fragments.add("idgrid", "full", {"digits": ID_DIGITS})
        first = (title, cover, Piece(grid, 0.0, COVER_GAP, tag=Tag("idgrid")), instructions)
    flow = [Block(first, keep=True)]
    for part in view["parts"]:
        heading = {k: part[k] for k in ("number", "title", "points_label", "bonus", "instructions")}
        piece = Piece(fragments.add("part", "full", heading), 0.0, 0.0)
        flow.append(Block((piece,), below=PART_BELOW, new_page=True))
        for question in part["questions"]:
            flow.extend(_question_blocks(question, key, fragments))
    end = fragments.add("end", "full", {"key": key})
    flow.append(Block((Piece(end, 0.0, 2 * EM),), at_bottom=True))
    return flow


def _cover(view: dict[str, Any], key: bool) -> dict[str, Any]:
    fields = ("duration", "total", "bonus", "variant", "student")
    cover = {name: view[name] for name in fields}
    cover["key"] = key
    cover["params"] = view["params"] if key else []
    return cover


def _head(q: dict[str, Any], level: int, fragments: Fragments, above: float) -> Piece:
    """A question's first piece: its text, with its number at the left and points at the right."""
    geo = GEOMETRY
    indent = 0.0 if level == 0 else geo.part_indent
    label = geo.number if level == 0 else geo.label
    number = q["number"] if level == 0 else q["label"]
    return Piece(
        fragments.add("text", f"text{level}", q["text"], q["id"]),
        indent + label + geo.gutter,
        above,
        (
            Beside(fragments.add("number", None, number), indent, "left"),
            Beside(fragments.add("points", None, q["points_label"]), geo.text_width, "right"),
        ),
        stick=True,
    )


def _question_blocks(q: dict[str, Any], key: bool, fragments: Fragments) -> list[Block]:
    """A question's block, or a problem's: its setup, then a block per part. Each page
    the problem (question) runs on to opens with its "(continued)" line."""
    owner = f"{'Problem' if q['kind'] == 'problem' else 'Question'} {q['number']}"
    if q["kind"] != "problem":
        return [_item(q, 0, key, fragments)._replace(owner=owner, opens=True)]
    pieces = [_head(q, 0, fragments, QUESTION_ABOVE[0])]
    if key:
        pieces += _key(q, 0, fragments)
    blocks = [Block(tuple(pieces), below=QUESTION_BELOW, keep=True, owner=owner, opens=True)]
    blocks += [_item(part, 1, key, fragments)._replace(owner=owner) for part in q["parts"]]
    return blocks


def _answer_label(q: dict[str, Any]) -> str | None:
    if q["kind"] == "mcq":
        return f"Answer: ({q['answer']})"
    if q["kind"] == "multi_select":
        return f"Answer: {q['answer']}"
    if q["kind"] == "numeric":
        return f"Answer: {q['answer']}" + (f" {q['unit']}" if q.get("unit") else "")
    return None


def _key_sections(q: dict[str, Any]) -> list[dict[str, Any]]:
    """What the key says about a question, section by section: its answer, its scoring
    and reference answer (or how it is graded), its rubric, solution and explanation."""
    sections = []
    label = _answer_label(q)
    if label:
        sections.append({"section": "answer", "label": label, "tolerance": q.get("tolerance")})
    if q.get("scoring") or q["kind"] in ("short_answer", "code", "open"):
        lead = {name: q.get(name) for name in ("kind", "scoring", "reference", "task", "functions")}
        sections.append({"section": "lead", **lead})
    if q.get("rubric"):
        sections.append({"section": "rubric", "rubric": q["rubric"]})
    for name in ("solution", "explanation"):
        if q.get(name):
            sections.append({"section": name, "text": q[name]})
    return sections


def _key(q: dict[str, Any], level: int, fragments: Fragments) -> list[Piece]:
    """The key's block for a question, one piece per section, each drawing its share of
    the block: an answer line is shared by every question with that answer, a rubric by
    every student who got the question, whatever their parameter values."""
    x = GEOMETRY.body0 if level == 0 else GEOMETRY.body1
    sections = _key_sections(q)
    pieces = []
    for n, section in enumerate(sections):
        body = {**section, "top": n == 0, "bottom": n == len(sections) - 1}
        qid = "" if section["section"] == "answer" else q["id"]
        fragment = fragments.add("key", f"column{level}", body, qid)
        answer = section["section"] == "answer"
        pieces.append(Piece(fragment, x, KEY_ABOVE if n == 0 else 0.0, stick=answer))
    return pieces


def _item(q: dict[str, Any], level: int, key: bool, fragments: Fragments) -> Block:
    """A question (level 0) or a problem's part (level 1)."""
    geo = GEOMETRY
    body = geo.body0 if level == 0 else geo.body1
    column = f"column{level}"
    pieces = [_head(q, level, fragments, QUESTION_ABOVE[level])]
    for n, option in enumerate(q["options"]):
        marked = key and option["correct"]
        text = {"text": option["text"], "marked": marked}
        letter = {"letter": option["letter"], "marked": marked}
        box = None if key else Tag("box", q["number"], n)
        pieces.append(
            Piece(
                fragments.add("option", f"option{level}", text, q["id"]),
                body + OPTION_INDENT,
                OPTIONS_ABOVE if n == 0 else OPTION_GAP,
                (Beside(fragments.add("letter", None, letter), body, "left", box),),
            )
        )
    if q["kind"] == "code":
        pieces.append(Piece(fragments.add("label", column, q["task"]), body, LABEL_ABOVE))
        for stub in q["stubs"]:
            pieces.append(Piece(fragments.add("stub", "full", stub, q["id"]), 0.0, STUB_ABOVE))
    if key:
        pieces += _key(q, level, fragments)
    elif q["kind"] == "code" and q["space"]:  # the rest of the page, ruled
        least = min(q["space"]["height_cm"] / 2.54 * 72, GEOMETRY.body_height)
        fill = Fill(column, least, {"style": "fill", "pitch": PITCH})
        region = Tag("region", q["number"], kind=q["kind"])
        pieces.append(Piece(0, body, SPACE_ABOVE, tag=region, fill=fill))
    else:
        space = q["space"]
        if space:
            style = {
                "style": space["style"],
                "lines": space["lines"],
                "height_cm": space["height_cm"],
            }
            region = Tag("region", q["number"], kind=q["kind"])
            space_page = fragments.add("space", column, style)
            pieces.append(Piece(space_page, body, SPACE_ABOVE, tag=region))
        if q["kind"] == "numeric":
            field = {"style": "field", "unit": q.get("unit")}
            region = Tag("region", q["number"], kind="numeric")
            field_page = fragments.add("space", column, field)
            pieces.append(Piece(field_page, body, FIELD_ABOVE, tag=region))
    keep = q["keep"] and not key
    return Block(tuple(pieces), below=QUESTION_BELOW, keep=keep)


Size = Callable[[int], tuple[float, float]]


def paginate(
    flow: list[Block], size: Size, later: Fragments | None = None
) -> list[list[Placement]]:
    """Break the flow into pages: each piece where it fits, a new page where it does not.

    A `keep` block moves whole to the next page when it would be split and fits on
    one; a piece that sticks to the next (a question's text, a key's answer line)
    never ends a page. A piece taller than a
    whole page is scaled down to fit one (a very long key note, say). A `fill` piece
    takes the rest of its page (at least its `least`, else it starts the next page and
    takes all of it), short of the end line when that follows; it is registered in
    `later` with its height, and placed from that library (1). A page that a problem
    or question runs on to opens with its "(continued)" line (also typeset `later`).
    """
    geo = GEOMETRY
    room = geo.body_height
    pages: list[list[Placement]] = [[]]
    y, below = 0.0, 0.0
    fresh = True  # nothing but (perhaps) a "(continued)" line on the page yet
    started = ""  # the owner whose first piece is placed, and so continues on a new page

    def height(piece: Piece) -> float:
        if piece.fill is not None:
            return piece.fill.least
        return min(size(piece.fragment)[1], room)

    def typeset_later() -> Fragments:
        if later is None:
            raise ValueError("this flow has pieces typeset after pagination: give `later`")
        return later

    def turn(block: Block) -> None:
        nonlocal y, fresh
        pages.append([])
        y, fresh = 0.0, True
        if block.owner and block.owner == started:
            line = typeset_later().add("continued", "full", block.owner)
            pages[-1].append(Placement(1, line, geo.margin_x, geo.margin_top))
            y = CONTINUED + CONTINUED_BELOW

    for n, block in enumerate(flow):
        if block.new_page and pages[-1]:
            pages.append([])
            y, fresh = 0.0, True
        if block.at_bottom:
            piece = block.pieces[0]
            h = height(piece)
            if pages[-1] and y + piece.above + h > room:
                pages.append([])
            pages[-1].append(
                Placement(0, piece.fragment, geo.margin_x + piece.x, geo.margin_top + room - h)
            )
            continue
        if block.opens:
            started = ""
        heights = [height(p) for p in block.pieces]
        whole = sum(heights) + sum(p.above for p in block.pieces[1:])
        first_gap = max(below, block.pieces[0].above)
        if block.keep and not fresh and y + first_gap + whole > room and whole <= room:
            turn(block)
        last = flow[n + 1] if n + 1 < len(flow) else None
        reserve = 0.0  # room for the end line, when a fill would otherwise take it
        if last is not None and last.at_bottom:
            reserve = last.pieces[0].above + height(last.pieces[0])
        for i, (piece, h) in enumerate(zip(block.pieces, heights)):
            gap = 0.0 if fresh else (first_gap if i == 0 else piece.above)
            need = gap + h
            if piece.stick and i + 1 < len(heights):  # with what follows it
                need += block.pieces[i + 1].above + heights[i + 1]
            if not fresh and y + need > room:
                turn(block)
                gap = 0.0
            top = geo.margin_top + y + gap
            x = geo.margin_x + piece.x
            if piece.fill is not None:
                h = max(room - y - gap - reserve, piece.fill.least)
                h = min(h, room - y - gap)
                h = int(h / FILL_STEP) * FILL_STEP
                body = {**piece.fill.body, "height": h}
                fragment = typeset_later().add("space", piece.fill.slot, body)
                pages[-1].append(Placement(1, fragment, x, top, 1.0, piece.tag))
            else:
                scale = min(1.0, room / size(piece.fragment)[1])
                pages[-1].append(Placement(0, piece.fragment, x, top, scale, piece.tag))
            for side in piece.beside:
                width = size(side.fragment)[0]
                sx = side.x if side.align == "left" else side.x - width
                pages[-1].append(Placement(0, side.fragment, geo.margin_x + sx, top, tag=side.tag))
            y += gap + h
            fresh = False
            if block.opens:
                started = block.owner
        below = block.below
    return pages


def furniture(view: dict[str, Any], key: bool, fragments: Fragments) -> tuple[int, int]:
    """Register a paper's header and footer; their library pages."""
    who = f"{view['student']['name']} · {view['student']['id']}" if view["student"] else ""
    header = {"course": view["course"], "title": view["title"], "key": key, "who": who}
    footer = {"field": not view["student"] and not key, "variant": view["variant"]}
    return fragments.add("header", "full", header), fragments.add("footer", "full", footer)


def decorate(
    pages: list[list[Placement]],
    header: int,
    footer: int,
    labels: Fragments,
    size: Size,
) -> list[list[Placement]]:
    """Add the header (from page 2), the footer and its "Page X of Y" label (registered in
    `labels`, typeset after pagination since Y is known only then). The label
    placements carry their index in `labels`; `place_labels` sets them once sized."""
    geo = GEOMETRY
    header_bottom = geo.margin_top * 0.7
    footer_top = geo.page_height - geo.margin_bottom * 0.7
    total = len(pages)
    decorated = []
    for number, page in enumerate(pages, start=1):
        extra = []
        if number > 1:
            top = header_bottom - size(header)[1]
            extra.append(Placement(0, header, geo.margin_x, top))
        extra.append(Placement(0, footer, geo.margin_x, footer_top))
        label = labels.add("page", None, [number, total])
        extra.append(Placement(1, label, 0.0, footer_top, centred=True))
        decorated.append(page + extra)
    return decorated


def place_labels(pages: list[list[Placement]], size: Size) -> list[list[Placement]]:
    """Centre each page label, now that the labels library gives their widths."""
    geo = GEOMETRY
    return [
        [
            p._replace(x=geo.margin_x + (geo.text_width - size(p.fragment)[0]) / 2)
            if p.centred
            else p
            for p in page
        ]
        for page in pages
    ]
