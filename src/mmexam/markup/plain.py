"""Terminal text for question text, for practice mode.

Formatting markers are dropped and math is shown in a light Unicode rendering
(`\\alpha` -> α, `\\mathbb{R}` -> ℝ, `x^{2}` -> x²); what it cannot render
stays LaTeX. Nothing here raises.
"""

from __future__ import annotations

import re
import unicodedata

from markdown_it.tree import SyntaxTreeNode

from mmexam.markup.latex import LIMIT_OPERATORS, OPERATORS, SIMPLE, SPACING, group_end
from mmexam.markup.parsing import Run, parse_tree, runs_and_nodes


def to_plain(text: str) -> str:
    """Terminal text for a Markdown + LaTeX text; never raises."""
    return _plain_blocks(parse_tree(text).children, "").strip()


def _plain_blocks(nodes: list[SyntaxTreeNode], indent: str) -> str:
    return "\n\n".join(part for part in (_plain_block(n, indent) for n in nodes) if part)


def _plain_block(node: SyntaxTreeNode, indent: str) -> str:
    kind = node.type
    if kind in ("paragraph", "heading"):
        return indent + _plain_inline(node.children[0].children if node.children else [])
    if kind == "math_block":
        return indent + "    " + tex_to_unicode(node.content.strip())
    if kind in ("bullet_list", "ordered_list"):
        start = int(node.attrs.get("start", 1) or 1)
        lines = []
        for k, item in enumerate(node.children):
            marker = "- " if kind == "bullet_list" else f"{start + k}. "
            body = _plain_blocks(item.children, indent + " " * len(marker)).lstrip()
            lines.append(indent + marker + body)
        return "\n".join(lines)
    if kind == "blockquote":
        return "\n".join(
            indent + "> " + line for line in _plain_blocks(node.children, "").split("\n")
        )
    if kind == "hr":
        return indent + "-" * 20
    if kind in ("fence", "code_block"):
        return "\n".join(indent + "    " + line for line in node.content.rstrip("\n").split("\n"))
    if kind == "table":
        lines = []
        for section in node.children:
            for row in section.children:
                cells = [
                    _plain_inline(cell.children[0].children if cell.children else [])
                    for cell in row.children
                ]
                lines.append(indent + " | ".join(cells))
        return "\n".join(lines)
    return indent + node.content


def _plain_inline(children: list[SyntaxTreeNode]) -> str:
    out: list[str] = []
    for item in runs_and_nodes(children):
        if isinstance(item, Run):
            out.append(item.literal)
            continue
        kind = item.type
        if kind == "math_inline":
            out.append(tex_to_unicode(item.content.strip()))
        elif kind == "math_inline_double":
            out.append(" " + tex_to_unicode(item.content.strip()) + " ")
        elif kind in ("strong", "em", "s"):
            out.append(_plain_inline(item.children))
        elif kind == "code_inline":
            out.append(f"`{item.content}`")
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "link":
            label = _plain_inline(item.children)
            href = str(item.attrs.get("href", ""))
            out.append(label if label == href else f"{label} ({href})")
        elif kind == "image":
            out.append(f"[image: {_plain_inline(item.children)}]")
        else:
            out.append(item.content)
    return "".join(out)


_GREEK = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "epsilon": "ϵ",
    "varepsilon": "ε",
    "zeta": "ζ",
    "eta": "η",
    "theta": "θ",
    "vartheta": "ϑ",
    "iota": "ι",
    "kappa": "κ",
    "lambda": "λ",
    "mu": "μ",
    "nu": "ν",
    "xi": "ξ",
    "pi": "π",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "upsilon": "υ",
    "phi": "ϕ",
    "varphi": "φ",
    "chi": "χ",
    "psi": "ψ",
    "omega": "ω",
    "Gamma": "Γ",
    "Delta": "Δ",
    "Theta": "Θ",
    "Lambda": "Λ",
    "Xi": "Ξ",
    "Pi": "Π",
    "Sigma": "Σ",
    "Phi": "Φ",
    "Psi": "Ψ",
    "Omega": "Ω",
}
_SYMBOLS = {
    "in": "∈",
    "notin": "∉",
    "cdot": "·",
    "times": "×",
    "otimes": "⊗",
    "oplus": "⊕",
    "odot": "⊙",
    "circ": "∘",
    "to": "→",
    "rightarrow": "→",
    "leftarrow": "←",
    "gets": "←",
    "Rightarrow": "⇒",
    "implies": "⇒",
    "Leftrightarrow": "⇔",
    "iff": "⇔",
    "mapsto": "↦",
    "leq": "≤",
    "le": "≤",
    "geq": "≥",
    "ge": "≥",
    "neq": "≠",
    "ne": "≠",
    "approx": "≈",
    "sim": "∼",
    "simeq": "≃",
    "equiv": "≡",
    "propto": "∝",
    "infty": "∞",
    "sum": "Σ",
    "prod": "Π",
    "int": "∫",
    "partial": "∂",
    "nabla": "∇",
    "|": "‖",
    "Vert": "‖",
    "lVert": "‖",
    "rVert": "‖",
    "vert": "|",
    "lvert": "|",
    "rvert": "|",
    "mid": "|",
    "langle": "⟨",
    "rangle": "⟩",
    "ldots": "…",
    "dots": "…",
    "cdots": "⋯",
    "forall": "∀",
    "exists": "∃",
    "top": "⊤",
    "perp": "⊥",
    "emptyset": "∅",
    "varnothing": "∅",
    "subset": "⊂",
    "subseteq": "⊆",
    "cup": "∪",
    "cap": "∩",
    "pm": "±",
    "ell": "ℓ",
    "star": "⋆",
    "ast": "∗",
    "dagger": "†",
    "prime": "′",
    "neg": "¬",
    "land": "∧",
    "lor": "∨",
    "{": "{",
    "}": "}",
    "_": "_",
    "%": "%",
    "#": "#",
    "$": "$",
    "&": "&",
    "triangleq": "≜",
    "coloneqq": "≔",
    "ll": "≪",
    "gg": "≫",
    "uparrow": "↑",
    "downarrow": "↓",
    "longrightarrow": "⟶",
}
_SPACES = {",": " ", ";": " ", ":": " ", "!": "", " ": " ", "quad": "  ", "qquad": "    "}
_DROPPED = {
    "left",
    "right",
    "big",
    "Big",
    "bigg",
    "Bigg",
    "bigl",
    "bigr",
    "Bigl",
    "Bigr",
    "limits",
    "nolimits",
    "displaystyle",
    "textstyle",
    "scriptstyle",
}
_TEXT_LIKE = {
    "text",
    "mathrm",
    "operatorname",
    "operatorname*",
    "mathbf",
    "boldsymbol",
    "bm",
    "mathit",
    "textbf",
    "textit",
    "mathsf",
    "mathtt",
    "mbox",
    "textrm",
}
_BB = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ", "E": "𝔼", "P": "ℙ", "1": "𝟙"}
_CAL = {
    "L": "ℒ",
    "N": "𝒩",
    "D": "𝒟",
    "X": "𝒳",
    "Y": "𝒴",
    "Z": "𝒵",
    "H": "ℋ",
    "F": "ℱ",
    "M": "ℳ",
    "E": "ℰ",
    "B": "ℬ",
    "A": "𝒜",
    "C": "𝒞",
    "G": "𝒢",
    "I": "ℐ",
    "K": "𝒦",
    "O": "𝒪",
    "P": "𝒫",
    "Q": "𝒬",
    "R": "ℛ",
    "S": "𝒮",
    "T": "𝒯",
    "U": "𝒰",
    "V": "𝒱",
    "W": "𝒲",
}
_ACCENTS = {
    "hat": "\u0302",
    "widehat": "\u0302",
    "bar": "\u0304",
    "overline": "\u0305",
    "tilde": "\u0303",
    "widetilde": "\u0303",
    "vec": "\u20d7",
    "dot": "\u0307",
}
_SUPERSCRIPT = str.maketrans("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ")
_SUBSCRIPT = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")


#: LaTeX command names (without the backslash) common in question text; the
#: bank reader uses them to spot LaTeX that YAML double quotes would mangle.
LATEX_COMMANDS = frozenset(
    {
        *_GREEK,
        *(k for k in _SYMBOLS if k.isalpha()),
        *_DROPPED,
        *_TEXT_LIKE,
        *_ACCENTS,
        *OPERATORS,
        *LIMIT_OPERATORS,
        *(k for k in SIMPLE if k.isalpha()),
        "frac",
        "dfrac",
        "tfrac",
        "sqrt",
        "mathbb",
        "mathcal",
        "begin",
        "end",
        "underbrace",
        "overbrace",
        "log",
        "ln",
        "sin",
        "cos",
        "tan",
        "lim",
        "sigma",
        "epsilon",
        "top",
        "rightarrow",
        "leftarrow",
        "right",
        "left",
        "nabla",
        "theta",
        "beta",
        "alpha",
        "varepsilon",
        "times",
        "text",
        "textbf",
        "ldots",
        "cdot",
        "binom",
        "boxed",
        "partial",
        "bar",
        "vec",
        "odot",
        "otimes",
        "oplus",
        "approx",
        "emptyset",
        "exists",
        "forall",
        "neq",
        "notin",
        "underline",
        "overline",
        "xrightarrow",
    }
)


def tex_to_unicode(tex: str) -> str:
    """A light Unicode rendering of a LaTeX formula, for terminals; never raises."""
    try:
        out, _ = _unicode_seq(tex, 0, stop=None)
    except (IndexError, ValueError, RecursionError):
        return tex
    return unicodedata.normalize("NFC", re.sub(r"[ \t]+", " ", out).strip())


def _read_group(tex: str, i: int) -> tuple[str, int]:
    """The raw argument at i: a {group}, a \\command, or one character."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i >= len(tex):
        return "", i
    if tex[i] == "{":
        end = group_end(tex, i)
        if end < 0:
            return tex[i + 1 :], len(tex)
        return tex[i + 1 : end - 1], end
    if tex[i] == "\\":
        match = re.match(r"\\([A-Za-z]+|.)", tex[i:])
        assert match is not None
        return match.group(), i + match.end()
    return tex[i], i + 1


def _unicode_seq(tex: str, i: int, stop: str | None) -> tuple[str, int]:
    out: list[str] = []
    while i < len(tex):
        ch = tex[i]
        if stop is not None and ch == stop:
            return "".join(out), i + 1
        if ch == "{":
            inner, i = _unicode_seq(tex, i + 1, "}")
            out.append(inner)
        elif ch in "^_":
            raw, i = _read_group(tex, i + 1)
            out.append(_unicode_script(ch, tex_to_unicode(raw)))
        elif ch == "\\":
            match = re.match(r"\\([A-Za-z]+\*?|.)", tex[i:])
            if match is None:
                out.append(ch)
                i += 1
                continue
            rendered, i = _unicode_command(match.group(1), tex, i + match.end())
            out.append(rendered)
        else:
            out.append(" " if ch == "&" else ch)
            i += 1
    return "".join(out), i


def _unicode_script(ch: str, rendered: str) -> str:
    """A superscript (`ch` is ^) or subscript (_) of the rendered text."""
    table = _SUPERSCRIPT if ch == "^" else _SUBSCRIPT
    scriptable = "0123456789+-=()" + ("ni" if ch == "^" else "")
    if rendered and all(c in scriptable for c in rendered):
        return rendered.translate(table)
    if len(rendered) == 1:
        return ch + rendered
    return f"{ch}({rendered})"


# Function names printed upright as they are, a space after them before a letter.
_FUNCTIONS = frozenset(
    (
        "log",
        "exp",
        "sin",
        "cos",
        "tanh",
        "max",
        "min",
        "arg",
        "argmax",
        "argmin",
        "softmax",
        "lim",
        "sup",
        "inf",
        "det",
        "tan",
        "ln",
    )
)


def _unicode_command(name: str, tex: str, i: int) -> tuple[str, int]:
    """Command `name` rendered, its arguments read from `i` on; and the index after them."""
    for table in (_GREEK, _SYMBOLS, _SPACES):
        if name in table:
            return table[name], i
    if name in _DROPPED:
        return "", i
    if name in ("begin", "end"):
        return "", _read_group(tex, i)[1]
    if name == "\\":
        return "; ", i
    with_argument = _unicode_with_argument(name, tex, i)
    if with_argument is not None:
        return with_argument
    if name in _FUNCTIONS:
        follows = tex[i : i + 1]
        return name + (" " if follows.isalpha() or follows == "\\" else ""), i
    # Unknown: keep the LaTeX source, arguments included.
    out = ["\\" + name]
    while i < len(tex) and tex[i] == "{":
        end = group_end(tex, i)
        if end < 0:
            break
        out.append(tex[i:end])
        i = end
    return "".join(out), i


def _unicode_with_argument(name: str, tex: str, i: int) -> tuple[str, int] | None:
    """A command that takes arguments (\\text, \\mathbb, \\frac, \\sqrt, accents...), else None."""
    if name in _TEXT_LIKE:
        raw, i = _read_group(tex, i)
        if name in ("text", "mbox", "textrm", "operatorname", "operatorname*"):
            return SPACING.sub(" ", raw), i
        return tex_to_unicode(raw), i
    if name in ("mathbb", "mathcal"):
        raw, i = _read_group(tex, i)
        letters = _BB if name == "mathbb" else _CAL
        return "".join(letters.get(c, c) for c in raw), i
    if name in ("frac", "dfrac", "tfrac"):
        num, i = _read_group(tex, i)
        den, i = _read_group(tex, i)
        num, den = tex_to_unicode(num), tex_to_unicode(den)
        num = num if len(num) <= 1 else f"({num})"
        den = den if len(den) <= 1 else f"({den})"
        return f"{num}/{den}", i
    if name == "sqrt" or name in _ACCENTS or name in ("underbrace", "overbrace"):
        raw, i = _read_group(tex, i)
        inner = tex_to_unicode(raw)
        if name == "sqrt":
            return "√" + (inner if len(inner) == 1 else f"({inner})"), i
        if name in _ACCENTS:
            return (inner + _ACCENTS[name] if len(inner) == 1 else f"{name}({inner})"), i
        return inner, i
    return None
