"""integrity.html and integrity.json: the ranked pairs with their evidence side by side.

The page is self-contained (inline CSS, no JavaScript, nothing fetched) so it
can be mailed to a colleague or opened from a USB stick in an exam office.
Its wording is deliberate: agreement is a reason to look, never a finding.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from mmexam import markup
from mmexam.files import atomic_write
from mmexam.integrity.models import IntegrityReport

TEMPLATE = "integrity.html.j2"


def fmt_p(p: float) -> str:
    """A p-value as a person reads it: 0.03, 2e-07, < 1e-300."""
    if p >= 0.995:
        return "1"
    if p >= 0.001:
        return f"{p:.2g}"
    if p <= 1e-300:
        return "< 1e-300"
    return f"{p:.1e}"


def fmt_chance(x: float) -> str:
    """A small probability as people say it: 8%, 1 in 640."""
    if x >= 0.01:
        return f"{x:.0%}"
    return f"1 in {round(1 / x):,}" if x > 0 else "—"


def bank_text(text: str | None) -> str | Markup:
    """Option text from the bank as the paper shows it (Markdown, math as MathML)."""
    if not text:
        return "—"
    try:
        html = markup.to_html(text).strip()
    except markup.MarkupError:
        return text  # escaped by the template, shown as written
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return Markup(html)  # safe: to_html escapes every raw HTML tag in the text


def render_html(report: IntegrityReport, title: str = "Exam integrity") -> str:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["p"] = fmt_p
    env.filters["pct"] = lambda x: f"{x:.0%}"
    env.filters["chance"] = fmt_chance
    env.filters["bank"] = bank_text
    return env.get_template(TEMPLATE).render(report=report, title=title)


def write_report(
    report: IntegrityReport, out: Path, title: str = "Exam integrity"
) -> dict[str, Path]:
    """Write integrity.json and integrity.html into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "integrity.json", "html": out / "integrity.html"}
    atomic_write(paths["json"], report.model_dump_json(indent=1) + "\n")
    atomic_write(paths["html"], render_html(report, title))
    return paths
