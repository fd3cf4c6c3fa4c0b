"""The student's practice history: which questions they were asked and missed.

Kept in `practice-history.json` under `$MMEXAM_HOME` (default `~/.mmexam`).
A question counts as missed while its latest attempt was not fully right;
answering it right clears it. The file is rewritten atomically after every
question, so a quiz ended by Ctrl-C keeps what was answered.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmexam.errors import PracticeError
from mmexam.files import atomic_write

HISTORY_FILE = "practice-history.json"


def mmexam_home() -> Path:
    """`$MMEXAM_HOME`, or `~/.mmexam`."""
    home = os.environ.get("MMEXAM_HOME")
    return Path(home) if home else Path.home() / ".mmexam"


def history_path() -> Path:
    return mmexam_home() / HISTORY_FILE


class QuestionRecord(BaseModel):
    """How one question went so far."""

    model_config = ConfigDict(extra="forbid")

    asked: int = Field(default=0, ge=0, description="Times the question was answered.")
    missed: int = Field(default=0, ge=0, description="Times it was not fully right.")
    missed_last: bool = Field(default=False, description="The latest attempt was not fully right.")
    last_seen: str | None = Field(default=None, description="When it was last answered (ISO 8601).")


class History(BaseModel):
    """The whole history file."""

    model_config = ConfigDict(extra="forbid")

    format: int = Field(default=1, description="History file format version.")
    questions: dict[str, QuestionRecord] = Field(
        default_factory=dict, description="Records by question id."
    )

    def record(self, question_id: str, missed: bool, when: datetime | None = None) -> None:
        entry = self.questions.setdefault(question_id, QuestionRecord())
        entry.asked += 1
        entry.missed += int(missed)
        entry.missed_last = missed
        entry.last_seen = (when or datetime.now(timezone.utc)).isoformat(timespec="seconds")

    def missed_ids(self) -> set[str]:
        """Questions whose latest attempt was missed."""
        return {qid for qid, entry in self.questions.items() if entry.missed_last}


def load_history(path: Path) -> History:
    """Read the history; a missing file is an empty history, a broken one an error."""
    if not path.exists():
        return History()
    try:
        return History.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as error:
        reason = str(error).splitlines()[0]
        raise PracticeError(
            f"{path}: unreadable practice history ({reason}) — fix or delete the file "
            "(or set MMEXAM_HOME to use another folder)"
        ) from None


def save_history(history: History, path: Path) -> None:
    """Write the history atomically (temporary file, then rename)."""
    try:
        atomic_write(path, history.model_dump_json(indent=1) + "\n")
    except OSError as error:
        raise PracticeError(
            f"{path}: cannot save the practice history ({error.strerror}) — "
            "set MMEXAM_HOME to a writable folder"
        ) from None
