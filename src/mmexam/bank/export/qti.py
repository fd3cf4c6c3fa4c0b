"""IMS QTI 1.2 (ASI) in an IMS content package, the question-bank format Canvas imports.

The package (a .zip) holds `imsmanifest.xml` (IMS Content Packaging 1.1, one
resource of type `imsqti_xmlv1p2`) and `<ident>/<ident>.xml`, a
`<questestinterop>` with one `<assessment>`. Each bank question is a
`<section>` of its drawn versions with `<selection_number>1` (a quiz draws one
version per student; Canvas reads it as a question group). Each version is an
`<item>` whose `itemmetadata` names its Canvas `question_type`
(`multiple_choice_question`, `multiple_answers_question`,
`numerical_question`, `essay_question`) and `points_possible`; its
`presentation` is the text and a `response_lid` (choices, `rcardinality`
Single or Multiple) or a `response_str` (a number or an essay); its
`resprocessing` sets SCORE to 100 for the right response (all right options
and no wrong one, a number within the tolerance). The explanation is the
general feedback (`itemfeedback ident="general_fb"`); an essay's rubric and
model answer go in `qticomment`, for the people grading it.
"""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
import zipfile

from mmexam.bank.export import (
    LmsExport,
    LmsItem,
    correct_indices,
    lms_html,
    numeric_tolerance,
    option_texts,
    rubric_html,
)
from mmexam.bank.models import NumericBody

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CP_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"
QUESTION_TYPES = {
    "mcq": "multiple_choice_question",
    "multi_select": "multiple_answers_question",
    "numeric": "numerical_question",
    "short_answer": "essay_question",
}


def ident(text: str) -> str:
    """A stable XML id for `text` (idents must be NCNames)."""
    return "g" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _mat(parent: ET.Element, html_text: str) -> None:
    material = ET.SubElement(parent, "material")
    ET.SubElement(material, "mattext", {"texttype": "text/html"}).text = html_text


def _meta(item: ET.Element, fields: dict[str, str]) -> None:
    data = ET.SubElement(ET.SubElement(item, "itemmetadata"), "qtimetadata")
    for label, entry in fields.items():
        field = ET.SubElement(data, "qtimetadatafield")
        ET.SubElement(field, "fieldlabel").text = label
        ET.SubElement(field, "fieldentry").text = entry


def assessment_xml(export: LmsExport, assessment_id: str) -> str:
    """The `<questestinterop>` document."""
    root = ET.Element("questestinterop", {"xmlns": QTI_NS})
    assessment = ET.SubElement(root, "assessment", {"ident": assessment_id, "title": export.title})
    top = ET.SubElement(assessment, "section", {"ident": "root_section"})
    groups: dict[str, ET.Element] = {}
    for item in export.items:
        section = groups.get(item.group)
        if section is None:
            section = ET.SubElement(
                top, "section", {"ident": ident(f"group:{item.group}"), "title": item.group}
            )
            selection = ET.SubElement(ET.SubElement(section, "selection_ordering"), "selection")
            ET.SubElement(selection, "selection_number").text = "1"
            extension = ET.SubElement(selection, "selection_extension")
            ET.SubElement(extension, "points_per_item").text = f"{item.points:g}"
            groups[item.group] = section
        section.append(_item(item))
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _item(item: LmsItem) -> ET.Element:
    body = item.body
    element = ET.Element("item", {"ident": ident(item.ident), "title": item.title})
    if item.kind == "short_answer":
        ET.SubElement(element, "qticomment").text = rubric_html(body)
    _meta(element, {"question_type": QUESTION_TYPES[item.kind],
                    "points_possible": f"{item.points:g}", "original_answer_ids": "",
                    "assessment_question_identifierref": ident(item.group)})  # fmt: skip
    presentation = ET.SubElement(element, "presentation")
    text = (lms_html(item.context) if item.context else "") + lms_html(body.text)
    if item.kind == "numeric" and body.unit:
        text += f"<p>Answer in {lms_html(body.unit)}.</p>"
    _mat(presentation, text)
    processing = ET.Element("resprocessing")
    outcomes = ET.SubElement(processing, "outcomes")
    ET.SubElement(outcomes, "decvar", {"maxvalue": "100", "minvalue": "0",
                                       "varname": "SCORE", "vartype": "Decimal"})  # fmt: skip
    if item.kind in ("mcq", "multi_select"):
        condition = _choices(presentation, item)
    elif item.kind == "numeric":
        condition = _number(presentation, body)
    else:
        ET.SubElement(
            ET.SubElement(
                presentation, "response_str", {"ident": "response1", "rcardinality": "Single"}
            ),
            "render_fib",
        )
        condition = None
    if condition is not None:
        respcondition = ET.SubElement(processing, "respcondition", {"continue": "No"})
        respcondition.append(condition)
        ET.SubElement(respcondition, "setvar", {"action": "Set", "varname": "SCORE"}).text = "100"
    else:
        ET.SubElement(ET.SubElement(ET.SubElement(processing, "respcondition", {"continue": "No"}),
                                    "conditionvar"), "other")  # fmt: skip
    element.append(processing)
    if body.explanation:
        feedback = ET.SubElement(element, "itemfeedback", {"ident": "general_fb"})
        _mat(ET.SubElement(feedback, "flow_mat"), lms_html(body.explanation))
    return element


def _choices(presentation: ET.Element, item: LmsItem) -> ET.Element:
    """The choices, and the condition of full credit: every right one, no wrong one."""
    texts = option_texts(item.body)
    right = set(correct_indices(item.body))
    cardinality = "Single" if item.kind == "mcq" else "Multiple"
    lid = ET.SubElement(presentation, "response_lid", {"ident": "response1",
                                                        "rcardinality": cardinality})  # fmt: skip
    render = ET.SubElement(lid, "render_choice")
    for k, option in enumerate(texts):
        label = ET.SubElement(render, "response_label", {"ident": f"{item.ident}.{k}"})
        _mat(label, lms_html(option))
    condition = ET.Element("conditionvar")
    if cardinality == "Single":
        (k,) = right
        ET.SubElement(condition, "varequal", {"respident": "response1"}).text = f"{item.ident}.{k}"
        return condition
    both = ET.SubElement(condition, "and")
    for k in range(len(texts)):
        parent = both if k in right else ET.SubElement(both, "not")
        ET.SubElement(parent, "varequal", {"respident": "response1"}).text = f"{item.ident}.{k}"
    return condition


def _number(presentation: ET.Element, body: NumericBody) -> ET.Element:
    response = ET.SubElement(presentation, "response_str", {"ident": "response1",
                                                            "rcardinality": "Single"})  # fmt: skip
    ET.SubElement(response, "render_fib", {"fibtype": "Decimal"})
    answer, tolerance = float(body.answer), numeric_tolerance(body)
    condition = ET.Element("conditionvar")
    either = ET.SubElement(condition, "or")
    ET.SubElement(either, "varequal", {"respident": "response1"}).text = f"{answer:g}"
    within = ET.SubElement(either, "and")
    ET.SubElement(within, "vargte", {"respident": "response1"}).text = f"{answer - tolerance:g}"
    ET.SubElement(within, "varlte", {"respident": "response1"}).text = f"{answer + tolerance:g}"
    return condition


def manifest_xml(assessment_id: str, href: str) -> str:
    root = ET.Element("manifest", {"identifier": f"{assessment_id}_manifest", "xmlns": CP_NS})
    ET.SubElement(root, "organizations")
    resources = ET.SubElement(root, "resources")
    resource = ET.SubElement(resources, "resource", {"identifier": assessment_id,
                                                     "type": "imsqti_xmlv1p2", "href": href})  # fmt: skip
    ET.SubElement(resource, "file", {"href": href})
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def qti_package(export: LmsExport) -> bytes:
    """The content package (.zip bytes): imsmanifest.xml and the assessment."""
    assessment_id = ident(f"{export.course}/{export.title}")
    href = f"{assessment_id}/{assessment_id}.xml"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for name, text in (("imsmanifest.xml", manifest_xml(assessment_id, href)),
                           (href, assessment_xml(export, assessment_id))):  # fmt: skip
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            package.writestr(info, text)
    return buffer.getvalue()
