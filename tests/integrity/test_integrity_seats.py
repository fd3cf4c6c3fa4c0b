"""The seating chart: read with file:line errors, neighbours weighted in the correction."""

import pytest

from mmexam.integrity import seats
from mmexam.integrity.sheets import IntegrityError, parse_seats


def test_a_chart_is_read_with_rooms():
    chart = parse_seats("id,room,row,seat\ns1,A,1,1\ns2,A,1,2\ns3,B,1,2\n")
    assert chart["s2"] == ("A", 1.0, 2.0)
    assert seats.neighbours(chart["s1"], chart["s2"]) is True
    assert seats.neighbours(chart["s2"], chart["s3"]) is False
    assert seats.neighbours(chart["s1"], None) is None


def test_errors_say_where_and_how_to_fix():
    with pytest.raises(IntegrityError, match=r"seats.csv:1: missing column\(s\) seat"):
        parse_seats("id,row\ns1,1\n")
    with pytest.raises(IntegrityError, match=r"seats.csv:3: row and seat must be numbers"):
        parse_seats("id,row,seat\ns1,1,1\ns2,front,2\n")
    with pytest.raises(IntegrityError, match=r"seats.csv:3: s1 is seated twice"):
        parse_seats("id,row,seat\ns1,1,1\ns1,1,2\n")


def test_neighbour_pairs_get_the_larger_weight():
    chart = {"a": ("", 0.0, 0.0), "b": ("", 0.0, 1.0), "c": ("", 5.0, 5.0)}
    w, near = seats.weights(["a", "b", "c"], [(0, 1), (0, 2), (1, 2)], chart, 10.0)
    assert w == [10.0, 1.0, 1.0] and near == [True, False, False]
    assert seats.weights(["a"], [], None, 10.0) == (None, [])
