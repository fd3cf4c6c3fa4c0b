"""The class roster, as the build reads it: see `mmexam.roster` (shared with grade and serve)."""

from __future__ import annotations

from mmexam.roster import (
    SAFE_ID,
    Roster,
    RosterEntry,
    load_roster,
    parse_roster,
    parse_roster_file,
    read_roster,
)

__all__ = [
    "SAFE_ID",
    "Roster",
    "RosterEntry",
    "load_roster",
    "parse_roster",
    "parse_roster_file",
    "read_roster",
]
