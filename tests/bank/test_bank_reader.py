"""The YAML reader: positions, YAML 1.2 scalars, and hostile input."""

from __future__ import annotations

import pytest

from mmexam.bank.reader import MAX_DEPTH, ReadError, ReadProblem, read_file, read_text


def test_values_and_keys_keep_their_line_and_column():
    doc = read_text("questions:\n  - id: a\n    options: [x, 'y']\n    text: |\n      hi\n")
    assert doc.data == {"questions": [{"id": "a", "options": ["x", "y"], "text": "hi\n"}]}
    assert doc.where(("questions", 0, "id")) == (2, 9)
    assert doc.where(("questions", 0, "id"), key=True) == (2, 5)
    assert doc.where(("questions", 0, "options", 1)) == (3, 18)
    # A path that is not there falls back to its nearest ancestor.
    assert doc.where(("questions", 0, "missing")) == (2, 5)
    assert doc.is_block_scalar(("questions", 0, "text"))
    assert not doc.is_block_scalar(("questions", 0, "id"))


def test_plain_scalars_follow_yaml_1_2():
    doc = read_text(
        "a: [yes, no, on, off, true, False, ~, null, 12, -3, 1e-3, .5, 0x1F, 0o17, .inf,"
        " 2024-01-01, 1_000, '12']\n"
    )
    assert doc.data["a"] == [
        "yes",
        "no",
        "on",
        "off",
        True,
        False,
        None,
        None,
        12,
        -3,
        0.001,
        0.5,
        31,
        15,
        float("inf"),
        "2024-01-01",
        "1_000",
        "12",
    ]


def test_standard_tags_and_merge_keys():
    doc = read_text(
        "base: &b {points: 2, kind: mcq}\nq:\n  <<: *b\n  points: 3\ns: !!str 12\nf: !!float 1\n"
    )
    assert doc.data["q"] == {"points": 3, "kind": "mcq"}
    assert doc.data["s"] == "12"
    assert doc.data["f"] == 1.0
    assert doc.problems == []


def test_duplicate_keys_and_unknown_tags_are_reported_not_fatal():
    doc = read_text("a: 1\nb: !!python/name:os.system x\na: 2\n")
    assert doc.data == {"a": 2, "b": "x"}
    assert doc.problems == [
        ReadProblem(
            2,
            4,
            "unsupported YAML tag !!python/name:os.system — remove it; the bank "
            "only holds plain data",
        ),
        ReadProblem(3, 1, "duplicate key 'a' (first at line 1) — keep only one"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "col", "start"),
    [
        ("a: &x [*x]\n", 1, 8, "alias *x refers to a value that contains it"),
        ("a: *nope\n", 1, 4, "alias *nope is not defined above"),
        ("? [a]\n: 1\n", 1, 3, "a list or mapping used as a key"),
        ("a:\n\tb: 1\n", 2, 1, "a tab is used for indentation"),
        ("a: [1, 2\n", 2, 1, "YAML syntax error: did not find expected ',' or ']'"),
        ("a: 'open\n", 2, 1, "YAML syntax error: found unexpected end of stream"),
        ("a: \x07\n", 1, 4, "character U+0007 is not allowed in YAML"),
        ("a: \ud800\n", 1, 4, "the text holds an unpaired surrogate character"),
        ('a: "\\mathbb{R}"\n', 1, 5, "YAML syntax error: found unknown escape character"),
    ],
)
def test_unreadable_yaml_says_where(text, line, col, start):
    with pytest.raises(ReadError) as caught:
        read_text(text)
    assert (caught.value.problem.line, caught.value.problem.col) == (line, col)
    assert caught.value.problem.message.startswith(start)
    assert " — " in caught.value.problem.message


def test_billion_laughs_stops_early():
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for name, previous in zip("bcdefghi", "abcdefgh"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    with pytest.raises(ReadError) as caught:
        read_text("\n".join(lines) + "\n")
    assert "a 'billion laughs' YAML bomb?" in caught.value.problem.message


def test_moderate_alias_reuse_is_fine():
    rubric = "rubric: &r [" + ", ".join(["{points: 1, description: d}"] * 5) + "]\n"
    uses = "".join(f"q{k}: *r\n" for k in range(200))
    doc = read_text(rubric + uses)
    assert doc.data["q199"] == doc.data["rubric"]


def test_deep_nesting_is_an_error_not_a_recursion_error():
    flow = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    block = (
        "".join("  " * k + "a:\n" for k in range(MAX_DEPTH + 1)) + "  " * (MAX_DEPTH + 1) + "1\n"
    )
    for source in (flow, block):
        with pytest.raises(ReadError) as caught:
            read_text(source)
        assert caught.value.problem.message == (
            f"nested more than {MAX_DEPTH} levels deep — flatten the structure"
        )
    read_text("[" * MAX_DEPTH + "]" * MAX_DEPTH)


def test_second_document_is_reported():
    doc = read_text("a: 1\n---\nb: 2\n")
    assert doc.data == {"a": 1}
    assert doc.problems[0].line == 2
    assert "a second YAML document" in doc.problems[0].message


def test_files_not_utf8_with_bom_and_empty(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: ok\nb: caf\xe9\n")
    with pytest.raises(ReadError) as caught:
        read_file(latin)
    assert caught.value.problem == ReadProblem(
        2, 7, "the file is not UTF-8 (byte 0xe9) — save it as UTF-8"
    )
    bom = tmp_path / "bom.yaml"
    bom.write_bytes("\ufeffa: é\n".encode())
    assert read_file(bom).data == {"a": "é"}
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(b"")
    assert read_file(empty).data is None


def test_latex_that_double_quotes_would_mangle_is_reported():
    doc = read_text('a: "$\\frac{1}{2}$"\nb: "line\\nNext"\nc: \'$\\frac{1}{2}$\'\n')
    assert doc.data["a"] == "$\x0crac{1}{2}$"
    assert doc.problems == [
        ReadProblem(
            1,
            4,
            "'\\frac' in double quotes: YAML reads '\\f' as form feed, so the "
            "LaTeX is lost — write LaTeX in single quotes ('...') or in a | block",
        ),
    ]
