"""Page breaking: pure, on made-up fragment sizes."""

from __future__ import annotations

from mmexam.build.layout import GEOMETRY, Block, Fragments, Piece, decorate, paginate

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
