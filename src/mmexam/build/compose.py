"""Write a paper's PDF from placed library pages: each page a Form XObject, copied as is.

A fragment library is read once with pikepdf (qpdf). Each object a library
page needs (its content stream, fonts, colour spaces) keeps its number from
the library, and each page's form gets a number of its own after them, so
every object is serialised once per library, `n 0 obj ... endobj` included;
a paper's PDF is then those bytes for the objects its pages use, a few
lines of content per page (`q s 0 0 s x y cm /Fn Do Q`), and a compressed
cross-reference stream, in which the library objects a paper does not use
are free entries. Nothing is decoded or re-encoded, and the bytes depend
only on the libraries and the placements. Saving the same paper with
pikepdf, which copies and re-compresses every stream, took 40 ms; this
takes about 2 ms.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Sequence
from decimal import Decimal

import pikepdf

from mmexam.build.layout import GEOMETRY, Placement
from mmexam.errors import BuildError

# How far a fragment's ink may reach past its page: descenders below the last baseline
# (Typst's line boxes end at the baseline), a marker's stroke. A form clips to its box.
BLEED = 12.0

# Inside an object: an escape, a parenthesis (strings nest them), or a reference "12 0 R".
_TOKEN = re.compile(rb"\\.|[()]|(?<![\d.])(\d+) (\d+) R")


class Library:
    """A compiled fragment library: page sizes, and each page as numbered objects to copy.

    `base` shifts every number of this library, so that two libraries can share a file.
    """

    def __init__(self, pdf: bytes, name: str, base: int = 0) -> None:
        try:
            self._pdf = pikepdf.open(io.BytesIO(pdf))
        except pikepdf.PdfError as error:
            raise BuildError(
                f"{name}: Typst wrote a PDF that cannot be read back ({error})"
            ) from None
        self.base = base
        self._pages = list(self._pdf.pages)
        self.sizes = [(float(p.mediabox[2]), float(p.mediabox[3])) for p in self._pages]
        self._last = int(self._pdf.trailer.Size) - 1  # the highest object number
        self._objects: dict[int, tuple[bytes, list[int]]] = {}
        self._closures: dict[int, tuple[int, ...]] = {}

    @property
    def end(self) -> int:
        """The last number this library's objects and forms can take."""
        return self.base + self._last + len(self._pages)

    def size(self, page: int) -> tuple[float, float]:
        """Width and height of a library page (1-based), in points."""
        return self.sizes[page - 1]

    def form_number(self, page: int) -> int:
        """The object number of a library page's form (1-based page)."""
        return self.base + self._last + page

    def closure(self, page: int) -> tuple[int, ...]:
        """The numbers of every object a page's form needs, itself included."""
        if page not in self._closures:
            form = self.form_number(page)
            seen = {form}
            todo = list(self.object(form)[1])
            while todo:
                number = todo.pop()
                if number not in seen:
                    seen.add(number)
                    todo.extend(self.object(number)[1])
            self._closures[page] = tuple(seen)
        return self._closures[page]

    def objects(self, numbers: list[int]) -> list[bytes]:
        """Objects of this library as written in a paper."""
        known = self._objects
        return [(known[n] if n in known else self.object(n))[0] for n in numbers]

    def object(self, number: int) -> tuple[bytes, list[int]]:
        """An object of this library as written in a paper (`n 0 obj ... endobj`), and the
        numbers it refers to."""
        if number not in self._objects:
            local = number - self.base
            if local > self._last:
                head, data = self._form(local - self._last)
            else:
                obj = self._pdf.get_object((local, 0))
                if isinstance(obj, pikepdf.Stream):
                    head, data = obj.stream_dict.unparse(resolved=True), obj.read_raw_bytes()
                else:
                    head, data = obj.unparse(resolved=True), None
            body, refs = self._shifted(head)
            if data is not None:
                body += b"\nstream\n" + data + b"\nendstream"
            self._objects[number] = (b"%d 0 obj\n%s\nendobj\n" % (number, body), refs)
        return self._objects[number]

    def _form(self, page: int) -> tuple[bytes, bytes]:
        """The Form XObject of a library page: the page's content, resources and box."""
        obj = self._pages[page - 1].obj
        contents = obj.Contents
        if isinstance(contents, pikepdf.Array):  # Typst writes one stream; others may not
            data, filters = b"\n".join(part.read_bytes() for part in contents), b""
        else:
            data, stream_dict = contents.read_raw_bytes(), contents.stream_dict
            filters = b"".join(
                b" %s %s" % (name.encode(), stream_dict[name].unparse(resolved=True))
                for name in ("/Filter", "/DecodeParms")
                if name in stream_dict
            )
        resources = obj.get("/Resources")
        if resources is None:
            resources_bytes = b"<< >>"
        elif resources.is_indirect:
            resources_bytes = b"%d %d R" % resources.objgen
        else:
            resources_bytes = resources.unparse(resolved=True)
        width, height = self.sizes[page - 1]
        head = (
            b"<< /Type /XObject /Subtype /Form /BBox [%s %s %s %s] /Resources %s%s /Length %d >>"
            % (
                _number(-BLEED),
                _number(-BLEED),
                _number(width + BLEED),
                _number(height + BLEED),
                resources_bytes,
                filters,
                len(data),
            )
        )
        return head, data

    def _shifted(self, syntax: bytes) -> tuple[bytes, list[int]]:
        """An object's syntax with its references (outside strings) shifted by `base`."""
        out, refs = [], []
        start, depth = 0, 0
        for match in _TOKEN.finditer(syntax):
            token = match.group(0)
            if token == b"(":
                depth += 1
            elif token == b")":
                depth -= 1
            elif match.group(1) is not None and depth == 0:
                number = int(match.group(1)) + self.base
                out += [syntax[start : match.start()], b"%d 0 R" % number]
                refs.append(number)
                start = match.end()
        out.append(syntax[start:])
        return b"".join(out), refs


def _number(value: float | Decimal) -> bytes:
    return b"%.3f" % value


def write_pdf(
    pages: Sequence[Sequence[Placement]],
    libraries: Sequence[Library],
    title: str,
    author: str,
    overlays: Sequence[bytes] = (),
) -> bytes:
    """One PDF of A4 pages, each showing its placements (library pages as forms) and,
    when given, its overlay (content operators drawn on top: corner marks and a code).

    The libraries must not overlap in numbers: give the second `base=first.end`.
    """
    geo = GEOMETRY
    placed = {(p.library, p.fragment) for page in pages for p in page}
    used = set().union(*(libraries[library].closure(page) for library, page in placed))
    objects: dict[int, bytes] = {}
    for library in libraries:
        mine = [n for n in used if library.base < n <= library.end]
        objects.update(zip(mine, library.objects(mine)))
    # This file's own objects come after every library's numbers.
    next_number = max(library.end for library in libraries) + 1

    def add(body: bytes) -> int:
        nonlocal next_number
        number, next_number = next_number, next_number + 1
        objects[number] = b"%d 0 obj\n%s\nendobj\n" % (number, body)
        return number

    tree = add(b"")  # filled in once the pages are known
    kids = []
    for n, page in enumerate(pages):
        names, content = _page_content(page, libraries)
        if n < len(overlays):
            content += b"\n" + overlays[n]
        stream = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
        xobjects = b" ".join(b"/F%d %d 0 R" % (form, form) for form in sorted(names))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] "
                b"/Resources << /XObject << %s >> >> /Contents %d 0 R >>"
                % (tree, _number(geo.page_width), _number(geo.page_height), xobjects, stream)
            )
        )
    objects[tree] = b"%d 0 obj\n<< /Type /Pages /Count %d /Kids [%s] >>\nendobj\n" % (
        tree,
        len(kids),
        b" ".join(b"%d 0 R" % kid for kid in kids),
    )
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R /Lang (en) >>" % tree)
    info = add(
        b"<< /Title %s /Author %s /Producer (mmexam) >>"
        % (pikepdf.String(title).unparse(), pikepdf.String(author).unparse())
    )
    return _pdf_file(objects, catalog, info)


def _page_content(
    page: Sequence[Placement], libraries: Sequence[Library]
) -> tuple[set[int], bytes]:
    """The forms one page shows and its content stream, which places each of them."""
    names, lines = set(), []
    for placement in page:
        library = libraries[placement.library]
        form = library.form_number(placement.fragment)
        names.add(form)
        height = library.size(placement.fragment)[1] * placement.scale
        bottom = GEOMETRY.page_height - placement.y - height
        scale = _number(placement.scale)
        lines.append(
            b"q %s 0 0 %s %s %s cm /F%d Do Q"
            % (scale, scale, _number(placement.x), _number(bottom), form)
        )
    return names, b"\n".join(lines)


def _pdf_file(objects: dict[int, bytes], catalog: int, info: int) -> bytes:
    """The file: header, the objects in number order, a cross-reference stream, trailer."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(objects[number])
    # The cross-reference stream: one entry per number up to its own, a gap being free.
    xref = max(objects) + 1
    offsets[xref] = out.tell()
    table = bytearray(7 * (xref + 1))  # all free: type 0, next 0, generation 0
    table[5:7] = b"\xff\xff"  # object 0, the head of the free list, has generation 65535
    for number, offset in offsets.items():
        table[7 * number : 7 * number + 7] = struct.pack(">BIH", 1, offset, 0)
    data = zlib.compress(bytes(table))
    out.write(
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root %d 0 R /Info %d 0 R "
        b"/Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream\nendobj\n"
        % (xref, xref + 1, catalog, info, len(data), data)
    )
    out.write(b"startxref\n%d\n%%%%EOF\n" % offsets[xref])
    return out.getvalue()
