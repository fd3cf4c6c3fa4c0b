"""`mmexam integrity`: pairs of students whose answers agree more than chance allows.

Modules, one job each: `sheets` reads what grading wrote into answer sheets;
`choices`, `numbers`, `code` and `text` each compare one kind of answer;
`seats` turns a seating chart into weights; `stats` holds the exact tails and
the correction; `rank` scores and ranks every pair; `report` writes
integrity.html and integrity.json. Everything but `sheets` and `report` is
pure: sheets in, ranked pairs out.
"""

from mmexam.integrity.models import IntegrityReport, Settings, Sheet
from mmexam.integrity.rank import check_integrity, score_class

__all__ = ["IntegrityReport", "Settings", "Sheet", "check_integrity", "score_class"]
