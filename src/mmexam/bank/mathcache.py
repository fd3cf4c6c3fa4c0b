"""Remember markup results across runs, so re-validating a bank is fast.

Scanning a text's Markdown costs about 0.1 ms, converting a formula with
tex2typst 0.1-3 ms, and the Typst compile check more; from one run of
`mmexam validate` to the next, an author changes a few questions. Kept in
one JSON file under the user's cache folder (`$MMEXAM_CACHE_DIR`, else
`$XDG_CACHE_HOME/mmexam`, else `~/.cache/mmexam`), named after the
converter versions so that an upgrade starts afresh:

- formulas: LaTeX source -> None when it converts and typesets, else the message;
- texts: a hash of a text -> its formulas and its first markup problem.

It is only a cache: unreadable or unwritable, it is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from mmexam import markup
from mmexam.files import atomic_write

MAX_ENTRIES = 200_000


def cache_dir() -> Path:
    explicit = os.environ.get("MMEXAM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mmexam"


def _versions() -> str:
    parts = [f"markup={markup.CONVERTER_VERSION}", "layout=2"]
    for package in ("tex2typst", "latex2mathml", "typst", "markdown-it-py", "mdit-py-plugins"):
        try:
            parts.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package}=?")
    return ";".join(parts)


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


class MarkupCache:
    """Formula verdicts and text scans, loaded from and saved to the cache folder."""

    def __init__(self, directory: Path | None) -> None:
        self.path: Path | None = None
        self.formulas: dict[str, str | None] = {}
        self.texts: dict[str, list] = {}
        self.dirty = False
        if directory is None:
            return
        digest = hashlib.sha256(_versions().encode()).hexdigest()[:16]
        self.path = directory / f"markup-{digest}.json"
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(loaded, dict):
            return
        formulas, texts = loaded.get("formulas"), loaded.get("texts")
        if isinstance(formulas, dict):
            self.formulas = {
                k: v
                for k, v in formulas.items()
                if isinstance(k, str) and (v is None or isinstance(v, str))
            }
        if isinstance(texts, dict):
            self.texts = {k: v for k, v in texts.items() if _valid_scan(v)}

    # formulas
    def __contains__(self, tex: str) -> bool:
        return tex in self.formulas

    def get(self, tex: str) -> str | None:
        return self.formulas[tex]

    def set(self, tex: str, verdict: str | None) -> None:
        self.formulas[tex] = verdict
        self.dirty = True

    # texts
    def scan(self, text: str) -> markup.Scan:
        """markup.scan(text), remembered across runs."""
        key = text_key(text)
        stored = self.texts.get(key)
        if stored is not None:
            formulas, problem = stored
            return markup.Scan(
                tuple(markup.Formula(tex, bool(display)) for tex, display in formulas),
                None
                if problem is None
                else markup.MarkupError(problem[0], snippet=problem[1], reason=problem[2]),
            )
        found = markup.scan(text)
        problem = found.problem
        self.texts[key] = [
            [[f.tex, f.display] for f in found.formulas],
            None if problem is None else [str(problem), problem.snippet, problem.reason],
        ]
        self.dirty = True
        return found

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        for table in (self.formulas, self.texts):
            while len(table) > MAX_ENTRIES:
                table.pop(next(iter(table)))
        try:
            payload = {"formulas": self.formulas, "texts": self.texts}
            atomic_write(self.path, json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
        except OSError:
            return
        self.dirty = False


def _valid_scan(value: object) -> bool:
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], list)):
        return False
    formulas, problem = value
    if not all(isinstance(f, list) and len(f) == 2 and isinstance(f[0], str) for f in formulas):
        return False
    return problem is None or (
        isinstance(problem, list) and len(problem) == 3 and all(isinstance(p, str) for p in problem)
    )
