"""The bulk downloads of learning management systems, read as they are named.

Each LMS names a student's files its own way; this module recognises the
names and groups the files into one `Entry` per student, carrying the LMS's
own id of the student and the name it wrote, for `mmexam.grade.intake` to
match against the roster:

- **Canvas** ("Download Submissions", `submissions.zip`, flat): every file is
  `<lastfirst>_<userid>_<attachmentid>_<filename>`, with `LATE` (or `late`)
  before the user id for a late submission, and `anon_<id>` in place of the
  user id when the assignment is anonymous. `<lastfirst>` is the student's
  sortable name lower-cased with everything but word characters removed, and
  a re-uploaded file keeps Canvas's display name (`fusion-1.py`). Source:
  `ContentZipper#get_filename` and `#add_upload_submission` in canvas-lms
  (lib/content_zipper.rb).
- **Moodle** ("Download all submissions"): one folder per student named
  `<Full Name>_<participant id>_assignsubmission_file_` (the participant id is
  the worksheet's "Participant N"); with "Download submissions in folders"
  off, the files are flat, `<Full Name>_<participant id>_assignsubmission_file_<filename>`.
  Source: Moodle's assignment "Download all submissions" (mod/assign,
  `download_submissions`), and docs.moodle.org's "Assignment settings".
- **Gradescope** ("Export Submissions"): folders `submission_<id>/` and a
  `submission_metadata.yml` that maps each folder to its `:submitters:` (with
  `:name:`, `:sid:` and `:email:`); a group submission lists several.
- Anything else is mmexam's own layout: one folder or `.zip` per student,
  named by the student id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mmexam.grade.results import IntakeNote
from mmexam.grade.submissions import Entry

CANVAS = re.compile(
    r"^(?:(?P<late1>late)_)?(?P<name>\w*?)_(?:(?P<late2>late)_)?"
    r"(?P<uid>\d+|anon_\w+?)_(?P<att>\d+)_(?P<file>.+)$",
    re.IGNORECASE,
)
MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_$")
MOODLE_FILE = re.compile(r"^(?P<name>.+)_(?P<pid>\d+)_assignsubmission_file_(?P<file>.+)$")
GRADESCOPE_FOLDER = re.compile(r"^submission_\d+$")
GRADESCOPE_METADATA = "submission_metadata.yml"


@dataclass
class Listing:
    """The top level of a download: its folders (with the files under each, for a zip) and
    its files."""

    root: Path
    folders: dict[str, list[str]] = field(default_factory=dict)  # name -> member paths (zip)
    files: list[str] = field(default_factory=list)
    is_zip: bool = False
    prefix: str = ""  # the folder a zip holds everything in, if any ("export/")


@dataclass
class _Group:
    """The files of one student gathered from a flat layout."""

    lms: str
    lms_id: str
    name: str
    members: list[tuple[str, str]] = field(default_factory=list)
    late: bool = False


def lms_entries(
    listing: Listing, metadata: bytes | None
) -> tuple[list[Entry], set[str], list[str]]:
    """The entries an LMS layout gives, the top-level names they used, and notes."""
    entries: list[Entry] = []
    used: set[str] = set()
    notes: list[str] = []
    groups: dict[tuple[str, str], _Group] = {}
    for name in listing.files:
        group = _flat_member(name, listing.prefix, groups)
        if group is not None:
            used.add(name)
    for group in groups.values():
        entries.append(_group_entry(listing, group))
    for name, members in listing.folders.items():
        match = MOODLE_FOLDER.match(name)
        if match is None:
            continue
        used.add(name)
        if match["plugin"] != "file":
            notes.append(f"{name}: Moodle's {match['plugin']} submission, not files; skipped")
            continue
        entries.append(_folder_entry(listing, name, members, "moodle", match["pid"],
                                     match["name"].replace("_", " ")))  # fmt: skip
    if metadata is not None:
        gradescope, gs_used, gs_notes = _gradescope(listing, metadata)
        entries += gradescope
        used |= gs_used | {GRADESCOPE_METADATA}
        notes += gs_notes
    return entries, used, notes


def _flat_member(name: str, prefix: str, groups: dict[tuple[str, str], _Group]) -> _Group | None:
    """File `name` of a flat Canvas or Moodle download, added to its student's group."""
    moodle = MOODLE_FILE.match(name)
    if moodle is not None:
        key = ("moodle", moodle["pid"])
        group = groups.setdefault(
            key, _Group("moodle", moodle["pid"], moodle["name"].replace("_", " "))
        )
        group.members.append((prefix + name, moodle["file"]))
        return group
    canvas = CANVAS.match(name)
    if canvas is not None:
        key = ("canvas", canvas["uid"])
        group = groups.setdefault(key, _Group("canvas", canvas["uid"], canvas["name"]))
        group.members.append((prefix + name, canvas["file"]))
        group.late = group.late or bool(canvas["late1"] or canvas["late2"])
        return group
    return None


def _group_entry(listing: Listing, group: _Group) -> Entry:
    system = group.lms.capitalize()
    label = f"{group.name}_{group.lms_id}" if group.lms == "canvas" else group.name
    notes = [
        IntakeNote(
            kind="layout",
            where=label,
            message=f"read from {system}'s download ({len(group.members)} file(s) named "
            f"{', '.join(sorted(m.rsplit('/', 1)[-1] for m, _ in group.members)[:3])}"
            f"{', …' if len(group.members) > 3 else ''})",
        )
    ]
    if group.late:
        notes.append(IntakeNote(kind="late", where=label, message=f"{system} marked it late"))
    return Entry(
        id=group.lms_id,
        path=listing.root,
        kind="members",
        members=tuple(sorted(group.members)),
        label=label,
        lms=group.lms,
        lms_id=group.lms_id,
        name_hint=group.name,
        notes=tuple(notes),
    )


def _folder_entry(
    listing: Listing, name: str, members: list[str], lms: str, lms_id: str, hint: str
) -> Entry:
    note = IntakeNote(kind="layout", where=name, message=f"read from {lms.capitalize()}'s download")
    if listing.is_zip:
        cut = len(listing.prefix) + len(name) + 1
        pairs = tuple((m, m[cut:]) for m in sorted(members))
        path, kind = listing.root, "members"
    else:
        pairs, path, kind = (), listing.root / name, "folder"
    return Entry(
        id=lms_id,
        path=path,
        kind=kind,
        members=pairs,
        label=name,
        lms=lms,
        lms_id=lms_id,
        name_hint=hint,
        notes=(note,),
    )


def _gradescope(listing: Listing, metadata: bytes) -> tuple[list[Entry], set[str], list[str]]:
    """Gradescope's export: one entry per submitter of each `submission_<id>/` folder."""
    try:
        data = yaml.safe_load(metadata.decode("utf-8", errors="replace"))
    except yaml.YAMLError as error:
        return [], set(), [f"{GRADESCOPE_METADATA}: not readable YAML ({error}); ignored"]
    if not isinstance(data, dict):
        return [], set(), [f"{GRADESCOPE_METADATA}: not a mapping of submissions; ignored"]
    entries: list[Entry] = []
    used: set[str] = set()
    notes: list[str] = []
    for folder, record in sorted(data.items(), key=lambda kv: str(kv[0])):
        folder = str(folder)
        if folder not in listing.folders or not isinstance(record, dict):
            notes.append(f"{GRADESCOPE_METADATA}: {folder} is listed but not in the export")
            continue
        used.add(folder)
        for submitter in _submitters(record):
            sid = str(submitter.get(":sid") or submitter.get(":email") or "").strip()
            name = str(submitter.get(":name") or "").strip()
            if not sid and not name:
                notes.append(f"{folder}: a submitter with no SID, email or name; skipped")
                continue
            entries.append(_folder_entry(listing, folder, listing.folders[folder], "gradescope",
                                         sid or name, name))  # fmt: skip
    return entries, used, notes


def _submitters(record: dict) -> Iterable[dict]:
    submitters = record.get(":submitters") or []
    return [s for s in submitters if isinstance(s, dict)] if isinstance(submitters, list) else []
