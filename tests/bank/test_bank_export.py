"""`mmexam bank export`: Moodle XML and QTI 1.2, parsed back and checked against each format.

No XSD of either format is pip-installable (Moodle publishes none; IMS's QTI 1.2
XSD is not packaged on PyPI), so the checks are structural, each one a rule of
the format's documentation that an importer relies on:

- Moodle XML (docs.moodle.org/en/Moodle_XML_format): a `<quiz>` root; every
  question has a `type`, a `<name><text>`, a `<questiontext format="html">`; a
  `multichoice` has `<single>` and answers whose `fraction`s are on Moodle's list
  of allowed grades, full marks summing to 100; a `numerical` answer has a
  `<tolerance>`; an `essay` has a `<responseformat>` and `<graderinfo>`; a
  `category` question names a `$course$/...` path.
- QTI 1.2 ASI (IMS "QTI ASI XML Binding" 1.2): `<questestinterop>` in the
  `ims_qtiasiv1p2` namespace holding an `<assessment>`; every `ident` unique; every
  `varequal/vargte/varlte` refers to a response declared in the item's
  `presentation`, and a `varequal` on a `response_lid` names one of its
  `response_label`s; a section's `selection_number` is at most its items; the
  content package's `imsmanifest.xml` (IMS CP 1.1) names a resource of type
  `imsqti_xmlv1p2` whose file is in the package.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmexam.bank import load_bank
from mmexam.bank.export import correct_indices, lms_html, lms_items, option_texts
from mmexam.bank.export.moodle import moodle_xml
from mmexam.bank.export.qti import CP_NS, QTI_NS, QUESTION_TYPES, ident, qti_package
from mmexam.cli import app
from mmexam.paths import DEFAULT_BANK

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "grade" / "bank"
MOODLE_FRACTIONS = {
    100, 90, 83.33333, 80, 75, 70, 66.66667, 60, 50, 40, 33.33333, 30, 25, 20, 16.66667,
    14.28571, 12.5, 11.11111, 10, 5, 0,
}  # fmt: skip


@pytest.fixture(scope="module")
def fixture_export():
    return lms_items(load_bank(FIXTURE, math=False), versions=3, seed=7)


def test_what_goes_out_and_what_stays_in(fixture_export):
    groups = {i.group: i.kind for i in fixture_export.items}
    assert groups == {
        "mcq-clip-objective": "mcq",
        "ms-fusion-kinds": "multi_select",
        "num-tensor-fusion-size": "numeric",
        "short-late-fusion": "short_answer",
        "fusion-problem.a": "numeric",
        "fusion-problem.b": "mcq",
    }
    versions = [i for i in fixture_export.items if i.group == "num-tensor-fusion-size"]
    assert len(versions) == 3 and len({str(v.body.answer) for v in versions}) == 3
    assert fixture_export.notes == [
        "left out 1 question(s) an LMS quiz cannot grade (code, open): open-missing-modality"
    ]
    again = lms_items(load_bank(FIXTURE, math=False), versions=3, seed=7)
    assert [i.body.model_dump() for i in again.items] == [
        i.body.model_dump() for i in fixture_export.items
    ]


def test_math_stays_latex_for_mathjax():
    assert lms_html("Size $d_A + 1$ and $$\\sum_i x_i$$ **bold**") == (
        "<p>Size \\(d_A + 1\\) and \\[\\sum_i x_i\\] <strong>bold</strong></p>"
    )
    assert lms_html("a <b> & $x<y$") == "<p>a &lt;b&gt; &amp; \\(x&lt;y\\)</p>"


def test_moodle_xml_follows_the_format(fixture_export):
    root = ET.fromstring(moodle_xml(fixture_export))
    assert root.tag == "quiz"
    questions = [q for q in root if q.get("type") != "category"]
    categories = [q for q in root if q.get("type") == "category"]
    assert {c.findtext("category/text") for c in categories} == {
        f"$course$/Grading Fixture/{i.part}/{i.group}" for i in fixture_export.items
    }
    by_id = {q.findtext("idnumber"): q for q in questions}
    assert list(by_id) == [i.ident for i in fixture_export.items]
    for item in fixture_export.items:
        question = by_id[item.ident]
        assert question.findtext("name/text") == item.title
        assert question.find("questiontext").get("format") == "html"
        assert float(question.findtext("defaultgrade")) == item.points
        check = {"mcq": _moodle_choices, "multi_select": _moodle_choices,
                 "numeric": _moodle_number, "short_answer": _moodle_essay}[item.kind]  # fmt: skip
        check(question, item)


def _moodle_choices(question, item):
    assert question.get("type") == "multichoice"
    assert question.findtext("single") == ("true" if item.kind == "mcq" else "false")
    answers = question.findall("answer")
    texts = option_texts(item.body)
    assert [a.findtext("text") for a in answers] == [lms_html(t) for t in texts]
    fractions = [float(a.get("fraction")) for a in answers]
    assert all(round(abs(f), 5) in MOODLE_FRACTIONS for f in fractions), fractions
    right = correct_indices(item.body)
    assert sum(f for f in fractions if f > 0) == pytest.approx(100, abs=0.01)
    assert [k for k, f in enumerate(fractions) if f > 0] == sorted(right)
    if item.kind == "multi_select":
        assert sum(f for f in fractions if f < 0) == pytest.approx(-100, abs=0.01)


def _moodle_number(question, item):
    assert question.get("type") == "numerical"
    (answer,) = question.findall("answer")
    assert answer.get("fraction") == "100"
    assert float(answer.findtext("text")) == pytest.approx(float(item.body.answer))
    assert float(answer.findtext("tolerance")) >= 0


def _moodle_essay(question, item):
    assert question.get("type") == "essay"
    assert question.findtext("responseformat") == "editor"
    info = question.findtext("graderinfo/text")
    for rubric in item.body.rubric:
        assert lms_html(rubric.description) in info
    assert "Model answer" in info


def read_package(data: bytes) -> tuple[ET.Element, ET.Element]:
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        manifest = ET.fromstring(package.read("imsmanifest.xml"))
        resource = manifest.find(f"{{{CP_NS}}}resources/{{{CP_NS}}}resource")
        assert resource is not None and resource.get("type") == "imsqti_xmlv1p2"
        href = resource.get("href")
        assert href in package.namelist()
        assert resource.find(f"{{{CP_NS}}}file").get("href") == href
        return manifest, ET.fromstring(package.read(href))


def test_qti_package_follows_the_format(fixture_export):
    _, root = read_package(qti_package(fixture_export))
    q = f"{{{QTI_NS}}}"
    assert root.tag == f"{q}questestinterop"
    tags = {f"{q}assessment", f"{q}section", f"{q}item"}
    idents = [e.get("ident") for e in root.iter() if e.tag in tags]
    assert len(idents) == len(set(idents))  # objects: unique in the document
    for element in root.iter(f"{q}item"):  # responses and their labels: unique in the item
        responses = [r.get("ident") for r in element.find(f"{q}presentation") if r.get("ident")]
        labels = [lab.get("ident") for lab in element.iter(f"{q}response_label")]
        assert len(responses) == len(set(responses)) and len(labels) == len(set(labels))
    sections = root.findall(f"{q}assessment/{q}section/{q}section")
    assert [s.get("title") for s in sections] == list(
        dict.fromkeys(i.group for i in fixture_export.items)
    )
    items = {i.ident: i for i in fixture_export.items}
    for section in sections:
        assert section.findtext(f"{q}selection_ordering/{q}selection/{q}selection_number") == "1"
        elements = section.findall(f"{q}item")
        assert len(elements) == sum(
            1 for i in fixture_export.items if i.group == section.get("title")
        )
        for element in elements:
            item = next(i for i in items.values() if ident(i.ident) == element.get("ident"))
            _qti_item(element, item, q)


def _qti_item(element, item, q):
    fields = {
        f.findtext(f"{q}fieldlabel"): f.findtext(f"{q}fieldentry")
        for f in element.iter(f"{q}qtimetadatafield")
    }
    assert fields["question_type"] == QUESTION_TYPES[item.kind]
    assert float(fields["points_possible"]) == item.points
    responses = {r.get("ident"): r for r in element.find(f"{q}presentation") if r.get("ident")}
    labels = {lab.get("ident") for lab in element.iter(f"{q}response_label")}
    for test in ("varequal", "vargte", "varlte"):
        for var in element.iter(f"{q}{test}"):
            response = responses[var.get("respident")]
            if response.tag == f"{q}response_lid":
                assert var.text in labels
    if item.kind in ("mcq", "multi_select"):
        lid = element.find(f"{q}presentation/{q}response_lid")
        assert lid.get("rcardinality") == ("Single" if item.kind == "mcq" else "Multiple")
        right = {f"{item.ident}.{k}" for k in correct_indices(item.body)}
        condition = element.find(f"{q}resprocessing/{q}respcondition/{q}conditionvar")
        wanted = {v.text for v in condition.iter(f"{q}varequal")}
        refused = {v.text for n in condition.iter(f"{q}not") for v in n.iter(f"{q}varequal")}
        assert wanted - refused == right
        assert refused == (set() if item.kind == "mcq" else labels - right)
    elif item.kind == "numeric":
        answer = float(item.body.answer)
        low = float(element.find(f".//{q}vargte").text)
        high = float(element.find(f".//{q}varlte").text)
        assert low <= answer <= high
    else:
        assert element.find(f"{q}presentation/{q}response_str") is not None
        comment = element.findtext(f"{q}qticomment")
        assert all(lms_html(r.description) in comment for r in item.body.rubric)


def test_the_shipped_bank_exports_every_auto_gradable_question(tmp_path):
    bank = load_bank(DEFAULT_BANK, math=False)
    runner = CliRunner()
    xml_path, qti_path = tmp_path / "bank.xml", tmp_path / "bank.zip"
    done = runner.invoke(
        app, ["bank", "export", "--to", "moodle-xml", "--out", str(xml_path), str(DEFAULT_BANK)]
    )
    assert done.exit_code == 0, done.output
    done = runner.invoke(
        app, ["bank", "export", "--to", "qti", "--out", str(qti_path), str(DEFAULT_BANK)]
    )
    assert done.exit_code == 0, done.output
    bodies = []
    for question in bank.questions.values():
        parts = question.parts if question.kind == "problem" else [question]
        bodies += [p for p in parts if p.kind in ("mcq", "multi_select", "numeric", "short_answer")]
    root = ET.fromstring(xml_path.read_bytes())
    names = {
        q.findtext("name/text").split(" (version")[0] for q in root if q.get("type") != "category"
    }
    assert len(names) == len(bodies)
    _, qti = read_package(qti_path.read_bytes())
    assert len(qti.findall(f".//{{{QTI_NS}}}assessment/*/{{{QTI_NS}}}section")) == len(bodies)
    bad = runner.invoke(app, ["bank", "export", "--to", "blackboard", str(DEFAULT_BANK)])
    assert bad.exit_code == 2 and "choose moodle-xml or qti" in bad.output
