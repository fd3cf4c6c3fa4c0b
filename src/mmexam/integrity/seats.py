"""Who sat next to whom: a seating chart turns into weights for the correction.

Copying from a paper needs a line of sight. With `--seats seats.csv` (columns
id, row, seat, and optionally room), two students in the same room whose
rows and seats both differ by at most one (side by side, in front, behind,
diagonal) are *neighbours*. The correction over all pairs is then Holm's
weighted version: each neighbour pair gets `weight` times the share of the
error rate a non-neighbour pair gets, so the same agreement counts for more
where copying was possible, and the family-wise error rate is still held.
A seating chart never removes a pair: a strong enough agreement between
students in different rooms is still listed (answers travel by phone too).
"""

from __future__ import annotations

Seat = tuple[str, float, float]


def neighbours(x: Seat | None, y: Seat | None) -> bool | None:
    """Whether two seats are adjacent (None if either student is not on the chart)."""
    if x is None or y is None:
        return None
    return x[0] == y[0] and abs(x[1] - y[1]) <= 1 and abs(x[2] - y[2]) <= 1


def weights(
    ids: list[str], pairs: list[tuple[int, int]], seats: dict[str, Seat] | None, weight: float
) -> tuple[list[float] | None, list[bool | None]]:
    """Holm weights of the pairs (None without a chart) and who sat together."""
    if not seats:
        return None, [None] * len(pairs)
    near = [neighbours(seats.get(ids[a]), seats.get(ids[b])) for a, b in pairs]
    return [weight if n else 1.0 for n in near], near
