"""Page breaking: pure, on made-up fragment sizes."""

from __future__ import annotations

from mmexam.build.layout import (
    CONTINUED,
    CONTINUED_BELOW,
    FILL_STEP,
    GEOMETRY,
    PITCH,
    WIDTHS,
    Block,
    Fill,
    Fragments,
    Piece,
    decorate,
    paginate,
)

ROOM = GEOMETRY.body_height


def sizes(heights: dict[int, float]):
    return lambda fragment: (100.0, heights[fragment])


def test_pieces_stack_with_their_gaps_and_break_where_they_do_not_fit():
    flow = [
        Block((Piece(1, 0.0, 0.0),)),
        Block((Piece(2, 0.0, 10.0),)),
        Block((Piece(3, 0.0, 10.0),)),
    ]
    pages = paginate(flow, sizes({1: 300.0, 2: 300.0, 3: 300.0}))
    assert [[p.fragment for p in page] for page in pages] == [[1, 2], [3]]
    first, second = pages[0]
    assert second.y - first.y == 300.0 + 10.0
    assert pages[1][0].y == GEOMETRY.margin_top, "no gap above the first piece of a page"


def test_a_kept_block_moves_whole_to_the_next_page():
    flow = [
        Block((Piece(1, 0.0, 0.0),)),
        Block((Piece(2, 0.0, 5.0), Piece(3, 0.0, 5.0)), keep=True),
    ]
    pages = paginate(flow, sizes({1: ROOM - 100.0, 2: 60.0, 3: 60.0}))
    assert [[p.fragment for p in page] for page in pages] == [[1], [2, 3]]


def test_a_breakable_block_splits_but_a_sticky_piece_keeps_its_successor():
    flow = [
        Block((Piece(1, 0.0, 0.0),)),
        Block((Piece(2, 0.0, 5.0, stick=True), Piece(3, 0.0, 5.0), Piece(4, 0.0, 5.0))),
    ]
    pages = paginate(flow, sizes({1: ROOM - 100.0, 2: 40.0, 3: 80.0, 4: 20.0}))
    assert [[p.fragment for p in page] for page in pages] == [[1], [2, 3, 4]]
    loose = [Block((Piece(1, 0.0, 0.0),)), Block((Piece(2, 0.0, 5.0), Piece(3, 0.0, 5.0)))]
    pages = paginate(loose, sizes({1: ROOM - 100.0, 2: 40.0, 3: 80.0}))
    assert [[p.fragment for p in page] for page in pages] == [[1, 2], [3]]


def test_a_part_starts_a_page_and_the_end_line_sits_at_the_foot():
    flow = [
        Block((Piece(1, 0.0, 0.0),)),
        Block((Piece(2, 0.0, 0.0),), new_page=True),
        Block((Piece(3, 0.0, 20.0),), at_bottom=True),
    ]
    pages = paginate(flow, sizes({1: 50.0, 2: 50.0, 3: 10.0}))
    assert [[p.fragment for p in page] for page in pages] == [[1], [2, 3]]
    assert pages[1][1].y + 10.0 == GEOMETRY.margin_top + ROOM


def test_a_piece_taller_than_a_page_is_scaled_to_fit_one():
    pages = paginate([Block((Piece(1, 0.0, 0.0),))], sizes({1: 2 * ROOM}))
    assert pages[0][0].scale == 0.5


def test_every_page_gets_a_footer_and_its_label_and_all_but_the_first_a_header():
    labels = Fragments()
    pages = decorate([[], [], []], 7, 8, labels, sizes({7: 10.0, 8: 5.0}))
    kinds = [[(p.library, p.fragment) for p in page] for page in pages]
    assert kinds[0] == [(0, 8), (1, 1)]
    assert kinds[1] == [(0, 7), (0, 8), (1, 2)]
    assert [item["body"] for item in labels.items] == [[1, 3], [2, 3], [3, 3]]


def fill(least: float) -> Piece:
    return Piece(0, 0.0, 5.0, fill=Fill("column0", least, {"style": "fill", "pitch": PITCH}))


def test_a_fill_takes_the_rest_of_its_page():
    later = Fragments()
    flow = [Block((Piece(1, 0.0, 0.0), fill(100.0))), Block((Piece(2, 0.0, 5.0),))]
    pages = paginate(flow, sizes({1: 300.0, 2: 10.0}), later)
    box = pages[0][1]
    assert (box.library, box.y) == (1, GEOMETRY.margin_top + 305.0)
    height = later.items[box.fragment - 1]["body"]["height"]
    assert abs(box.y + height - (GEOMETRY.margin_top + ROOM)) <= FILL_STEP, "not to the foot"
    assert [p.fragment for p in pages[1]] == [2], "what follows starts the next page"


def test_a_fill_with_too_little_room_starts_the_next_page_and_fills_it():
    later = Fragments()
    flow = [Block((Piece(1, 0.0, 0.0),)), Block((fill(200.0),))]
    pages = paginate(flow, sizes({1: ROOM - 150.0}), later)
    assert len(pages) == 2 and pages[1][0].library == 1
    assert later.items[0]["body"]["height"] == int(ROOM / FILL_STEP) * FILL_STEP


def test_a_fill_leaves_room_for_the_end_line():
    later = Fragments()
    flow = [Block((fill(100.0),)), Block((Piece(3, 0.0, 20.0),), at_bottom=True)]
    pages = paginate(flow, sizes({3: 10.0}), later)
    assert len(pages) == 1
    box, end = pages[0]
    assert box.y + later.items[0]["body"]["height"] <= end.y - 20.0


def test_a_problem_that_runs_on_opens_the_next_page_with_its_continued_line():
    later = Fragments()
    flow = [
        Block((Piece(1, 0.0, 0.0),), owner="Problem 3", opens=True),
        Block((Piece(2, 0.0, 5.0),), owner="Problem 3", keep=True),
        Block((Piece(3, 0.0, 5.0),), owner="Problem 4", opens=True, keep=True),
    ]
    pages = paginate(flow, sizes({1: ROOM - 50.0, 2: 200.0, 3: ROOM - 100.0}), later)
    assert [[(p.library, p.fragment) for p in page] for page in pages] == [
        [(0, 1)],
        [(1, 1), (0, 2)],
        [(0, 3)],
    ], "a page that starts a new problem has no continued line"
    assert later.items == [
        {"kind": "continued", "width": WIDTHS["full"], "body": "Problem 3", "qid": ""}
    ]
    assert pages[1][1].y == GEOMETRY.margin_top + CONTINUED + CONTINUED_BELOW


def test_a_question_split_inside_its_block_continues_too():
    later = Fragments()
    flow = [Block((Piece(1, 0.0, 0.0), Piece(2, 0.0, 5.0)), owner="Question 1.2", opens=True)]
    pages = paginate(flow, sizes({1: ROOM - 50.0, 2: 100.0}), later)
    assert [[(p.library, p.fragment) for p in page] for page in pages] == [
        [(0, 1)],
        [(1, 1), (0, 2)],
    ]
