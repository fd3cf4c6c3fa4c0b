"""Time `check_bank` on the shipped bank and on a generated bank of 5,000 questions.

    python benchmarks/validate_bank.py [--questions 5000] [--repeat 3]

For each bank it prints, in the same run:

- baseline: PyYAML's `yaml.safe_load` of every file plus pydantic validation
  of every question: the least any validator must do, with no line numbers
  and none of the cross-checks;
- check_bank without math (`mmexam validate --no-math`);
- check_bank with math, cold: an empty formula cache, so every distinct
  formula goes through tex2typst, latex2mathml and one Typst compile;
- check_bank with math, warm: the same bank again, as when an author re-runs
  `mmexam validate` after editing a question.

The generated bank mirrors the shipped one: about 65% mcq/multi_select, 20%
short answers, 7% open, 6% multi-part problems with code parts, 15%
parameterised; its formulas come from lecture-style templates with varying
subscripts and sizes, so many but not all repeat, as in a real bank.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

FORMULAS = [
    r"x_{{A}} \in \mathbb{{R}}^{{{d}}}",
    r"[x_A, 1] \otimes [x_B, 1] \in \mathbb{{R}}^{{({a}+1)({b}+1)}}",
    (
        r"\mathcal{{L}}_{{\text{{NCE}}}} = -\log \frac{{\exp(s_{{ii}}/\tau)}}{{\sum_{{j=1}}^{{{n}}} "
        r"\exp(s_{{ij}}/\tau)}}"
    ),
    r"z = \mu + \sigma \odot \epsilon,\; \epsilon \sim \mathcal{{N}}(0, I_{{{d}}})",
    r"\mathbb{{E}}_{{q(z|x)}}[\log p(x|z)] - D_{{\mathrm{{KL}}}}(q(z|x) \,\|\, p(z))",
    r"g_A = \sigma(W_g [x_A; x_B] + b_g), \quad h = g_A \odot x_A + (1 - g_A) \odot x_B",
    r"x_t = \sqrt{{\bar\alpha_{{{t}}}}}\, x_0 + \sqrt{{1-\bar\alpha_{{{t}}}}}\, \epsilon",
    r"\frac{{d x_t}}{{dt}} = v_\theta(x_t, t), \; t \in [0, {n}]",
    (
        r"\underbrace{{W x_A}}_{{\text{{additive}}}} + \underbrace{{x_A^\top M x_B}}_{{"
        r"\text{{multiplicative}}}}"
    ),
    r"\mathbf{{z}} \in \mathbb{{R}}^{{{d} \times {n}}}",
    r"\operatorname{{softmax}}\left(\frac{{Q K^\top}}{{\sqrt{{{d}}}}}\right) V",
    r"p_\theta(x_{{t-1}} \mid x_t) = \mathcal{{N}}(\mu_\theta(x_t, t), \sigma_{{{t}}}^2 I)",
    r"f(\pi \cdot X) = f(X) \quad \forall \pi \in S_{{{n}}}",
    r"\|x_A - x_B\|_2^2 \le {a}",
    r"\max_{{i \le {n}}} \; s_{{i}}",
    r"{a} \times {b} = {c}",
]
WORDS = [
    "modality",
    "fusion",
    "alignment",
    "representation",
    "contrastive",
    "encoder",
    "decoder",
    "latent",
    "diffusion",
    "token",
    "image",
    "text",
    "audio",
    "gated",
    "tensor",
    "interaction",
    "redundancy",
    "transformer",
    "projection",
    "prior",
    "posterior",
    "sample",
    "noise",
    "velocity",
    "flow",
    "denoise",
    "caption",
    "retrieval",
    "frozen",
    "adapter",
]
TOPICS = [
    "modalities",
    "heterogeneity",
    "connections",
    "interactions",
    "representation",
    "modality-profile",
    "invariance",
    "set-models",
    "early-late-fusion",
    "additive-multiplicative",
    "tensor-fusion",
    "gated-fusion",
    "alignment",
    "contrastive",
    "multiview-redundancy",
    "multimodal-transformers",
    "vilt",
    "minigpt4",
    "flamingo",
    "vae",
    "elbo",
    "diffusion",
    "generative-comparison",
    "flow-matching",
    "latent-diffusion",
    "diffusion-lm",
]


def _formula(rng: random.Random) -> str:
    template = rng.choice(FORMULAS)
    a, b = rng.randint(1, 8), rng.randint(1, 8)
    return template.format(
        d=rng.choice([2, 3, 4, 8, 16, 64, 128, 512]),
        n=rng.randint(2, 32),
        t=rng.choice(["t", "t-1", "s"]),
        a=a,
        b=b,
        c=a * b,
    )


def _sentence(rng: random.Random, formulas: int = 1) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18)))
    maths = " and ".join(f"${_formula(rng)}$" for _ in range(formulas))
    return f"Consider the **{rng.choice(WORDS)}** {words} with {maths}."


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _mcq(rng: random.Random, qid: str, params: bool) -> str:
    if params:
        return f"""  - id: {qid}
    kind: mcq
    part: mcq
    topics: [{rng.choice(TOPICS)}]
    difficulty: {rng.choice(["easy", "medium", "hard"])}
    points: 2
    params:
      d_a: {{range: {{min: 2, max: 9}}}}
      d_b: {{choices: [3, 5, 7]}}
    text: |
      {_sentence(rng)} Tensor fusion of $x_A \\in \\mathbb{{R}}^{{ {{{{ d_a }}}} }}$ and
      $x_B \\in \\mathbb{{R}}^{{ {{{{ d_b }}}} }}$ has how many entries?
    options:
      - "{{{{ (d_a + 1) * (d_b + 1) }}}}"
      - "{{{{ d_a * d_b }}}}"
      - "{{{{ d_a + d_b + 1000 }}}}"
      - text: "None of the above"
        fixed: true
    answer: a
    solution: '$({{{{ d_a }}}}+1)({{{{ d_b }}}}+1) = {{{{ (d_a + 1) * (d_b + 1) }}}}$.'
"""
    options = "\n".join(f"      - {_quote(_sentence(rng, formulas=k % 2))}" for k in range(4))
    return f"""  - id: {qid}
    kind: mcq
    part: mcq
    topics: [{rng.choice(TOPICS)}, {rng.choice(TOPICS)}]
    difficulty: {rng.choice(["easy", "medium", "hard"])}
    points: 2
    text: |
      {_sentence(rng)}
    options:
{options}
    answer: {rng.choice("abcd")}
    explanation: {_quote(_sentence(rng))}
"""


def _short(rng: random.Random, qid: str) -> str:
    return f"""  - id: {qid}
    kind: short_answer
    part: short
    topics: [{rng.choice(TOPICS)}]
    difficulty: medium
    points: 5
    text: |
      {_sentence(rng, 2)}
    reference: {_quote(_sentence(rng))}
    rubric:
      - {{points: 3, description: {_quote(_sentence(rng, 0))}, keywords: [fusion, gate]}}
      - {{points: 2, description: {_quote(_sentence(rng, 0))}, regex: "late|early"}}
"""


def _problem(rng: random.Random, qid: str, part: str) -> str:
    return f"""  - id: {qid}
    kind: problem
    part: {part}
    topics: [tensor-fusion]
    difficulty: hard
    params:
      d: {{choices: [2, 3, 4]}}
    text: |
      {_sentence(rng, 2)} Let $d = {{{{ d }}}}$.
    solution: {_quote(_sentence(rng))}
    parts:
      - kind: numeric
        points: 4
        text: 'How many entries has $[x_A, 1] \\otimes [x_B, 1]$ for $d_A = d_B = {{{{ d }}}}$?'
        answer: "{{{{ (d + 1) ** 2 }}}}"
        abs_tol: 0
      - kind: mcq
        points: 4
        text: {_quote(_sentence(rng))}
        options: ["Yes", "No", "Only with gates"]
        answer: a
      - kind: short_answer
        points: 4
        text: {_quote(_sentence(rng))}
        reference: "Because of the multiplicative term."
        rubric: [{{points: 4, description: "Names the multiplicative term"}}]
      - kind: code
        points: 8
        text: "Implement `tensor_fusion` and `gated_fusion`."
        task: fusion
        functions: [tensor_fusion, gated_fusion]
"""


def _open(rng: random.Random, qid: str) -> str:
    return f"""  - id: {qid}
    kind: open
    part: bonus
    topics: [{rng.choice(TOPICS)}]
    difficulty: hard
    points: 5
    text: |
      {_sentence(rng, 2)}
    rubric:
      - {{points: 3, description: {_quote(_sentence(rng, 0))}}}
      - {{points: 2, description: {_quote(_sentence(rng, 1))}}}
"""


def generate(root: Path, count: int, seed: int = 0) -> None:
    """Write a bank of `count` questions (10 files) with the shipped blueprint."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "question_bank" / "exam.yaml", root / "exam.yaml")
    files = 10
    for f in range(files):
        chunks = ["questions:\n"]
        for k in range(count // files):
            qid = f"gen-{f}-{k}"
            roll = rng.random()
            if roll < 0.55:
                chunks.append(_mcq(rng, qid, params=rng.random() < 0.15))
            elif roll < 0.65:
                chunks.append(_mcq(rng, qid, params=True))
            elif roll < 0.85:
                chunks.append(_short(rng, qid))
            elif roll < 0.93:
                chunks.append(_open(rng, qid))
            else:
                chunks.append(_problem(rng, qid, rng.choice(["fusion", "mllm", "generation"])))
        (root / f"generated-{f:02d}.yaml").write_text("".join(chunks), encoding="utf-8")


def baseline(root: Path) -> int:
    """yaml.safe_load + pydantic: no positions, no cross-checks, no math."""
    import yaml
    from pydantic import TypeAdapter

    from mmexam.bank.models import Blueprint, Question

    adapter = TypeAdapter(Question)
    count = 0
    for path in sorted(root.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if path.name == "exam.yaml":
            Blueprint.model_validate(data)
            continue
        for item in data["questions"]:
            adapter.validate_python(item)
            count += 1
    return count


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Median wall-clock and CPU seconds (CPU time is steadier on a shared machine)."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def measure(name: str, root: Path, repeat: int) -> None:
    from mmexam.bank import check_bank
    from mmexam.markup import clear_formula_cache, scan

    def cold():
        os.environ["MMEXAM_CACHE_DIR"] = tempfile.mkdtemp(prefix="mmexam-cold-")
        clear_formula_cache()
        scan.cache_clear()
        return check_bank(root)

    def warm():
        scan.cache_clear()  # in-process caches off: as a fresh `mmexam validate` would run
        return check_bank(root)

    rows = [("baseline safe_load + pydantic", timed(lambda: baseline(root), repeat))]
    rows.append(("check_bank --no-math", timed(lambda: check_bank(root, math=False), repeat)))
    rows.append(("check_bank, math, cold cache", timed(cold, 1)))
    rows.append(("check_bank, math, warm cache", timed(warm, repeat)))
    for _, (_, _, report) in rows[1:]:
        assert report.ok, "\n".join(map(str, report.problems[:5]))
    report = rows[-1][1][2]
    formulas = {
        f.tex
        for q in report.bank.questions.values()
        for text in (q.text, getattr(q, "solution", None) or "")
        for f in scan(text).formulas
    }
    print(
        f"{name}: {len(report.bank.questions)} questions, at least {len(formulas)} distinct "
        "formulas (in texts and solutions)"
    )
    print(f"  {'':32} {'wall ms':>9} {'cpu ms':>9}")
    for label, (wall, cpu, _) in rows:
        print(f"  {label + ':':32} {wall * 1000:9.0f} {cpu * 1000:9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    saved = os.environ.get("MMEXAM_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="mmexam-bench-") as tmp:
        os.environ["MMEXAM_CACHE_DIR"] = str(Path(tmp) / "cache")
        measure("shipped bank", REPO / "question_bank", args.repeat)
        generated = Path(tmp) / "generated"
        start = time.perf_counter()
        generate(generated, args.questions)
        print(f"(generated {args.questions} questions in {time.perf_counter() - start:.1f} s)")
        measure("generated bank", generated, args.repeat)
    if saved is None:
        os.environ.pop("MMEXAM_CACHE_DIR", None)


if __name__ == "__main__":
    main()
