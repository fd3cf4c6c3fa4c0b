"""Intake: which submissions there are, and whose each one is.

`discover` lists a submissions folder, or an LMS's bulk zip given as is
(`mmexam grade submissions.zip`): mmexam's own layout (one folder or `.zip`
per student, named by id) and the layouts of `mmexam.grade.lms` (Canvas,
Moodle, Gradescope), side by side. `match_entries` then finds the student of
each entry in the roster: the id exactly; the id in another case
(`S2024004` is s2024004); the LMS's own id kept with the roster (a Canvas
export's `ID`, a Moodle worksheet's "Participant N"); the name the LMS wrote
(Canvas's `lastfirst`, Moodle's full name). Every match that is not exact is
an `IntakeNote` on the submission, shown in the run's summary and in the
student's feedback; an entry that matches nobody keeps its own id, is listed
apart from grades.csv and the class statistics (a "roster" note names the
folder or zip it came from), and its problem suggests the nearest roster id.
"""

from __future__ import annotations

import difflib
import re
import stat
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from mmexam.errors import GradeError
from mmexam.grade.lms import GRADESCOPE_METADATA, Listing, lms_entries
from mmexam.grade.results import SAFE_ID, IntakeNote
from mmexam.grade.submissions import MAX_FILE_BYTES, Entry
from mmexam.roster import RosterEntry

MAX_MEMBERS = 20_000
"""Most members read from an LMS's bulk zip."""


# ---------------------------------------------------------------- discovery


def discover(root: Path) -> tuple[list[Entry], list[str]]:
    """List the submissions under `root` (a folder, or an LMS's bulk .zip) and notes on what
    was skipped. Entries carry the id as submitted; `match_entries` resolves them."""
    if root.is_file() and root.name.lower().endswith(".zip"):
        listing, metadata, notes = _zip_listing(root)
    elif root.is_dir():
        listing, metadata, notes = _folder_listing(root)
    else:
        raise GradeError(
            f"{root}: not a folder of submissions — pass the folder that holds one folder or "
            ".zip per student, or an LMS's download (Canvas submissions.zip, Moodle's zip)"
        )
    entries, used, lms_notes = lms_entries(listing, metadata)
    notes += lms_notes
    for name in sorted(listing.folders):
        if name in used:
            continue
        if listing.is_zip:
            cut = len(listing.prefix) + len(name) + 1
            members = tuple((m, m[cut:]) for m in sorted(listing.folders[name]))
            entry = Entry(name, root, "members", members=members, label=name)
        else:
            entry = Entry(name, root / name, "folder")
        notes += _add_plain(entries, entry, f"{root.name}/{name}")
    for name in listing.files:
        if name in used:
            continue
        if not name.lower().endswith(".zip"):
            notes.append(f"{root.name}/{name}: not a folder or .zip, skipped")
            continue
        sid = name[: -len(".zip")]
        if listing.is_zip:
            member = listing.prefix + name
            entry = Entry(sid, root, "members", members=((member, name),), label=name)
        else:
            entry = Entry(sid, root / name, "zip", label=name)
        notes += _add_plain(entries, entry, f"{root.name}/{name}")
    return entries, notes


def _add_plain(entries: list[Entry], entry: Entry, where: str) -> list[str]:
    """Add one folder or zip named by id; a zip beside a folder of the same id is left out."""
    if not SAFE_ID.match(entry.id):
        why = "is not a usable student id (letters, digits, . _ @ + -), skipped"
        return [f"{where}: {entry.id!r} {why}"]
    twin = next((e for e in entries if e.id == entry.id and e.lms is None), None)
    if twin is not None:  # folders are listed before zips
        return [f"{where}: {entry.id} also has a folder; graded the folder"]
    entries.append(entry)
    return []


def _folder_listing(root: Path) -> tuple[Listing, bytes | None, list[str]]:
    listing = Listing(root)
    metadata = None
    notes: list[str] = []
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        name = path.name
        if name.startswith((".", "__")):
            continue
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            notes.append(f"{path}: a symbolic link, skipped — copy the submission in instead")
        elif stat.S_ISDIR(info.st_mode):
            listing.folders[name] = []
        elif stat.S_ISREG(info.st_mode):
            if name == GRADESCOPE_METADATA and info.st_size <= MAX_FILE_BYTES * 8:
                metadata = path.read_bytes()
            listing.files.append(name)
        else:
            notes.append(f"{path}: not a folder or a file, skipped")
    return listing, metadata, notes


def _zip_listing(root: Path) -> tuple[Listing, bytes | None, list[str]]:
    """The top level of an LMS's bulk zip, read without extracting anything."""
    listing = Listing(root, is_zip=True)
    metadata = None
    notes: list[str] = []
    try:
        with zipfile.ZipFile(root) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                notes.append(f"{root.name}: more than {MAX_MEMBERS} files; the rest were not read")
            for info in members[:MAX_MEMBERS]:
                parts = [p for p in info.filename.replace("\\", "/").split("/") if p]
                if info.is_dir() or not parts or any(p in ("..", ".") for p in parts):
                    continue
                if parts[0].startswith((".", "__")) or (info.external_attr >> 16) & 0o170000 == (
                    stat.S_IFLNK
                ):
                    continue
                if len(parts) == 1:
                    if parts[0] == GRADESCOPE_METADATA and info.file_size <= MAX_FILE_BYTES * 8:
                        metadata = archive.read(info)
                    listing.files.append(parts[0])
                else:
                    listing.folders.setdefault(parts[0], []).append(info.filename)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise GradeError(f"{root}: not a readable zip file ({error}) — download it again") from None
    if len(listing.folders) == 1 and not listing.files:
        # a zip of the submissions folder itself: look one level down
        ((top, names),) = listing.folders.items()
        inner = Listing(root, is_zip=True)
        for member in names:
            rest = member.split("/", 1)[1]
            head, _, tail = rest.partition("/")
            if tail:
                inner.folders.setdefault(f"{top}/{head}", []).append(member)
            else:
                if head == GRADESCOPE_METADATA:
                    with zipfile.ZipFile(root) as archive:
                        metadata = archive.read(member)
                inner.files.append(f"{top}/{head}")
        return _strip_top(inner, top), metadata, notes
    return listing, metadata, notes


def _strip_top(listing: Listing, top: str) -> Listing:
    """A listing one folder down, named relative to it (members keep their full names)."""
    out = Listing(listing.root, is_zip=True)
    for name, members in listing.folders.items():
        out.folders[name[len(top) + 1 :]] = members
    out.files = [name[len(top) + 1 :] for name in listing.files]
    out.prefix = top + "/"
    return out


# ---------------------------------------------------------------- matching


def normal_name(name: str) -> str:
    """A name as an LMS's file names keep it: letters and digits only, lower case, no accents."""
    plain = unicodedata.normalize("NFKD", name)
    return re.sub(r"[\W_]+", "", "".join(c for c in plain if not unicodedata.combining(c))).lower()


@dataclass
class Known:
    """The students an entry may belong to: ids, LMS ids and names, for matching."""

    ids: list[str]
    lms: dict[str, str] = field(default_factory=dict)  # LMS id -> id
    names: dict[str, set[str]] = field(default_factory=dict)  # normal name -> ids

    @classmethod
    def of(cls, ids: Iterable[str], roster: list[RosterEntry] | None) -> Known:
        known = cls(sorted(set(ids)))
        for entry in roster or []:
            if entry.lms_id:
                known.lms[entry.lms_id] = entry.id
            tokens = entry.name.replace(",", " ").split()
            # "Ada Okafor" is also "okaforada" (Canvas's lastfirst) and the reverse
            forms = {entry.name, " ".join(tokens), " ".join(tokens[-1:] + tokens[:-1])}
            if "," in entry.name:
                last, _, first = entry.name.partition(",")
                forms |= {f"{first} {last}", f"{last} {first}"}
            for form in forms:
                known.names.setdefault(normal_name(form), set()).add(entry.id)
        return known


def match_entries(entries: list[Entry], known: Known) -> tuple[list[Entry], list[str]]:
    """Each entry with the id of its student (see the module docstring), and run notes on
    entries that two submissions claim. With nobody known (anonymous versions and no
    roster), ids stay as submitted."""
    if not known.ids:
        return sorted(entries, key=lambda e: e.id), []
    by_id: dict[str, Entry] = {}
    exact: dict[str, bool] = {}
    notes: list[str] = []
    for entry in entries:
        matched, note, is_exact = _match(entry, known)
        if matched is None:
            entry = _off_roster(entry, known)
        else:
            entry = replace(entry, id=matched, notes=entry.notes + ((note,) if note else ()))
        if entry.id in by_id:
            kept = by_id[entry.id]
            if is_exact and not exact[entry.id]:
                kept, entry = entry, kept
            notes.append(
                f"{entry.where}: also matches {kept.id} (as {kept.where}); graded "
                f"{kept.where} — remove one of the two"
            )
            by_id[kept.id], exact[kept.id] = kept, exact[kept.id] or is_exact
            continue
        by_id[entry.id], exact[entry.id] = entry, is_exact
    return sorted(by_id.values(), key=lambda e: e.id), notes


def _match(entry: Entry, known: Known) -> tuple[str | None, IntakeNote | None, bool]:
    """(student id, the note saying how, whether exact) or (None, None, False)."""
    where = entry.where
    if entry.lms is None or entry.lms == "gradescope":
        if entry.id in known.ids:
            return entry.id, None, True
        folded = [k for k in known.ids if k.lower() == entry.id.lower()]
        if len(folded) == 1:
            return (
                folded[0],
                _note(where, f"matched to {folded[0]} (the id in another case)"),
                False,
            )
    if entry.lms_id is not None and entry.lms_id in known.lms:
        sid = known.lms[entry.lms_id]
        system = entry.lms.capitalize() if entry.lms else "LMS"
        return (
            sid,
            _note(where, f"matched to {sid} by the {system} id {entry.lms_id} in the roster"),
            False,
        )
    if entry.name_hint:
        ids = known.names.get(normal_name(entry.name_hint), set())
        if len(ids) == 1:
            sid = next(iter(ids))
            return sid, _note(where, f"matched to {sid} by the name {entry.name_hint!r}"), False
    return None, None, False


def _note(where: str, message: str) -> IntakeNote:
    return IntakeNote(kind="id", where=where, message=message)


def _off_roster(entry: Entry, known: Known) -> Entry:
    """An entry nobody on the roster matches: a usable id of its own, a did-you-mean, and a
    note saying where it came from (the report and the summary list it apart by it)."""
    sid = entry.id if SAFE_ID.match(entry.id) else re.sub(r"[^A-Za-z0-9._@+-]", "-", entry.id)
    if entry.lms and entry.lms != "gradescope":
        sid = f"{entry.lms}-{entry.lms_id}"
    sid = sid[:128]
    note = IntakeNote(
        kind="roster",
        where=entry.where,
        message=f"not on the roster: {sid} ({submitted_as(entry)}); graded apart, not counted "
        "with the class (not in grades.csv or the class statistics)",
    )
    return replace(
        entry, id=sid, suggestion=_did_you_mean(entry, known), notes=entry.notes + (note,)
    )


def submitted_as(entry: Entry) -> str:
    """Where a submission came from, for the TA: 'folder submissions/s999', 'zip
    submissions/s999.zip', or 'visitor_555_answers.yaml in submissions.zip' for an LMS's
    download. Named from the submissions folder, as the run's notes name things, so that the
    note (and the result it is part of) does not change when the whole folder moves."""
    if entry.kind in ("folder", "zip"):
        return f"{entry.kind} {entry.path.parent.name}/{entry.path.name}"
    return f"{entry.where} in {entry.path.name}"


def _did_you_mean(entry: Entry, known: Known) -> str | None:
    """The roster id nearest to the entry's id (or, from an LMS, to the name it wrote)."""
    lowered = {k.lower(): k for k in known.ids}
    close = difflib.get_close_matches(entry.id.lower(), list(lowered), n=1, cutoff=0.75)
    if close:
        return lowered[close[0]]
    if entry.name_hint:
        hint = normal_name(entry.name_hint)
        names = difflib.get_close_matches(hint, list(known.names), n=1, cutoff=0.8)
        if names:
            return min(known.names[names[0]])
    return None
