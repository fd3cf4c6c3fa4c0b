"""Moodle XML (docs.moodle.org/en/Moodle_XML_format): a `<quiz>` of `<question>`s.

Per item: `multichoice` (`<single>true` for mcq; for multi_select each right
option is worth 100/k % and each wrong one -100/(n-k) %, so ticking every box
earns 0 — both on Moodle's list of allowed fractions for up to ten options),
`numerical` (the answer with its tolerance, the unit in the text), `essay`
(an HTML editor response, the rubric and model answer as `<graderinfo>`).
Every question has its bank id as `<idnumber>` and its explanation as
`<generalfeedback>`. A `category` question before each bank question puts its
drawn versions in a category of their own (`$course$/<title>/<part>/<id>`), so
a quiz's "random question from category" draws one version per student.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mmexam.bank.export import (
    LmsExport,
    LmsItem,
    correct_indices,
    lms_html,
    numeric_tolerance,
    option_texts,
    rubric_html,
)


def _text(parent: ET.Element, tag: str, value: str, *, html: bool = True) -> ET.Element:
    element = ET.SubElement(parent, tag, {"format": "html"} if html else {})
    ET.SubElement(element, "text").text = value
    return element


def _fraction(value: float) -> str:
    return f"{value:.5f}".rstrip("0").rstrip(".")


def moodle_xml(export: LmsExport) -> str:
    """The Moodle XML text of an export."""
    quiz = ET.Element("quiz")
    current = None
    for item in export.items:
        if item.group != current:
            current = item.group
            category = ET.SubElement(quiz, "question", {"type": "category"})
            path = f"$course$/{export.title}/{item.part}/{item.group}"
            ET.SubElement(ET.SubElement(category, "category"), "text").text = path
        quiz.append(_question(item))
    ET.indent(quiz, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, encoding="unicode") + "\n"


def _question(item: LmsItem) -> ET.Element:
    body = item.body
    kind = {"mcq": "multichoice", "multi_select": "multichoice", "numeric": "numerical",
            "short_answer": "essay"}[item.kind]  # fmt: skip
    question = ET.Element("question", {"type": kind})
    _text(question, "name", item.title, html=False)
    text = lms_html(body.text)
    if item.context:
        text = lms_html(item.context) + text
    if item.kind == "numeric" and body.unit:
        text += f"<p>Answer in {lms_html(body.unit)}.</p>"
    _text(question, "questiontext", text)
    _text(question, "generalfeedback", lms_html(body.explanation))
    ET.SubElement(question, "defaultgrade").text = f"{item.points:g}"
    ET.SubElement(question, "penalty").text = "0"
    ET.SubElement(question, "hidden").text = "0"
    ET.SubElement(question, "idnumber").text = item.ident
    if item.kind in ("mcq", "multi_select"):
        _choices(question, item)
    elif item.kind == "numeric":
        answer = ET.SubElement(question, "answer", {"fraction": "100"})
        ET.SubElement(answer, "text").text = f"{float(body.answer):g}"
        ET.SubElement(answer, "tolerance").text = f"{numeric_tolerance(body):g}"
        _text(answer, "feedback", "")
    else:
        ET.SubElement(question, "responseformat").text = "editor"
        ET.SubElement(question, "responserequired").text = "1"
        ET.SubElement(question, "responsefieldlines").text = "10"
        ET.SubElement(question, "attachments").text = "0"
        _text(question, "graderinfo", rubric_html(body))
        _text(question, "responsetemplate", "")
    return question


def _choices(question: ET.Element, item: LmsItem) -> None:
    body = item.body
    texts = option_texts(body)
    right = set(correct_indices(body))
    single = item.kind == "mcq"
    ET.SubElement(question, "single").text = "true" if single else "false"
    ET.SubElement(question, "shuffleanswers").text = "true"
    ET.SubElement(question, "answernumbering").text = "abc"
    wrong = len(texts) - len(right)
    for k, option in enumerate(texts):
        if k in right:
            fraction = 100.0 if single else 100.0 / len(right)
        else:
            fraction = 0.0 if single or wrong == 0 else -100.0 / wrong
        answer = _text(question, "answer", lms_html(option))
        answer.set("fraction", _fraction(fraction))
        _text(answer, "feedback", "")
