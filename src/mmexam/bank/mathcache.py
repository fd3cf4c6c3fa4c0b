"""Remember which formulas convert, across runs, so re-validating a bank is instant.

Converting one formula with tex2typst costs 0.1-3 ms and a Typst compile
check more; a bank repeats most of its formulas from one run to the next.
The verdict for each distinct formula (None when it converts and typesets,
else the message) is kept in a small JSON file under the user's cache
folder (`$MMEXAM_CACHE_DIR`, else `$XDG_CACHE_HOME/mmexam`, else
`~/.cache/mmexam`), named after the converter versions so that an upgrade
starts afresh. It is only a cache: unreadable or unwritable, it is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

from mmexam import markup

MAX_ENTRIES = 200_000


def cache_dir() -> Path:
    explicit = os.environ.get("MMEXAM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mmexam"


def _versions() -> str:
    parts = [f"markup={markup.CONVERTER_VERSION}"]
    for package in ("tex2typst", "latex2mathml", "typst"):
        try:
            parts.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package}=?")
    return ";".join(parts)


class MathVerdicts:
    """{formula: None | message}, loaded from and saved to the cache folder."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.path: Path | None = None
        self.verdicts: dict[str, str | None] = {}
        self.dirty = False
        if directory is None:
            return
        digest = hashlib.sha256(_versions().encode()).hexdigest()[:16]
        self.path = directory / f"math-verdicts-{digest}.json"
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(loaded, dict):
            self.verdicts = {
                k: v
                for k, v in loaded.items()
                if isinstance(k, str) and (v is None or isinstance(v, str))
            }

    def __contains__(self, tex: str) -> bool:
        return tex in self.verdicts

    def get(self, tex: str) -> str | None:
        return self.verdicts[tex]

    def set(self, tex: str, verdict: str | None) -> None:
        self.verdicts[tex] = verdict
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        if len(self.verdicts) > MAX_ENTRIES:
            self.verdicts = dict(list(self.verdicts.items())[-MAX_ENTRIES:])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(self.verdicts, out, ensure_ascii=False)
            os.replace(temporary, self.path)
        except OSError:
            return
        self.dirty = False
