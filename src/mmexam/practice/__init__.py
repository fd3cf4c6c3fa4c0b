"""Practice mode: what students run on their own laptop, offline.

- `bundle`: the student bundle (practice questions with answers, starter stubs,
  the public checks' precomputed fixtures) and its export; never reference
  code or hidden checks.
- `quiz`: choosing questions, drawing parameters, scoring a typed answer.
- `history`: the local record of what a student missed, for `--review`.
- `check`: the public checks on a student's file, replaying the bundle's fixtures.
- `exam`: a practice midterm drawn from the practice pool, rendered by `mmexam.build`.

Everything here returns data; the terminal session lives in `mmexam.cli.practice`.
"""
