"""Code fingerprints: blind to names, comments, layout and order; the starter and reference removed."""

from mmexam.integrity import code
from mmexam.integrity.models import CodeFile, Sheet
from mmexam.paths import GRADERS
from mmexam.starter import generate_starter

ORIGINAL = '''
import torch


def gate(x_a, x_b, w):
    """Gated fusion."""
    # weights per modality
    scores = torch.stack([x_a @ w, x_b @ w], dim=1)
    probs = torch.softmax(scores, dim=1)
    mixed = probs[:, 0:1] * x_a + probs[:, 1:2] * x_b
    return mixed / (mixed.norm(dim=1, keepdim=True) + 1e-6)


def helper(values, k):
    total = 0
    for v in values:
        if v > k:
            total = total + v * 3
        else:
            total = total - v
    return total
'''

DISGUISED = """
import torch

def helper(arr, thresh):
    acc = 0
    for item in arr:
        if item > thresh:
            acc = acc + item * 7     # scaled
        else:
            acc = acc - item
    return acc

def gate(first, second, weights):
    s = torch.stack([first @ weights, second @ weights], dim=1)
    p = torch.softmax(s, dim=1)
    out = p[:, 0:1] * first + p[:, 1:2] * second
    return out / (out.norm(dim=1, keepdim=True) + 2e-6)
"""


def texts(tokens):
    return [t.text for t in tokens]


def test_names_literals_comments_and_docstrings_are_normalised():
    a = texts(code.normalise("def f(x):\n    '''doc'''\n    y = x + 1  # add\n    return y\n"))
    b = texts(code.normalise("def g(t):\n    z = t + 2\n\n    return z\n"))
    assert a == b
    assert "return" in a and "V" in a and "0" in a


def test_attribute_names_are_kept_because_they_are_the_code():
    tokens = texts(code.normalise("y = torch.einsum('ij->i', x)\n"))
    assert "einsum" in tokens and "S" in tokens


def test_broken_code_is_still_fingerprinted():
    tokens = code.normalise("def f(x:\n    return x +\n")
    assert len(tokens) > 5


def test_a_shared_run_of_k_plus_w_minus_one_tokens_always_shares_a_fingerprint():
    shared = ORIGINAL
    a = code.fingerprint(0, "a.py", "x = 1\n" * 7 + shared)
    b = code.fingerprint(1, "b.py", "while True:\n    pass\n" + shared + "z = [1, 2]\n")
    assert set(a.chosen) & set(b.chosen)


def sheet(sid: str, task: str, source: str) -> Sheet:
    return Sheet(
        id=sid, name=None, earned=1, possible=2, code=(CodeFile(task, f"{task}.py", source),)
    )


def test_renamed_and_reordered_copy_is_found_and_independent_code_is_not():
    other = (
        "def gate(a, b, w):\n    return (a + b) @ w\n\n\ndef helper(v, k):\n    return sum(v) - k\n"
    )
    sheets = [sheet("s1", "t", ORIGINAL), sheet("s2", "t", DISGUISED)]
    sheets += [sheet(f"s{k}", "t", other.replace("sum", f"max{k}")) for k in range(3, 9)]
    tasks = code.prepare(sheets, {}, {})
    assert (0, 1) in code.candidates(tasks)
    p = code.score_pairs(tasks, sorted(code.candidates(tasks)))
    assert p[(0, 1)] < 1e-4
    copied = code.index_for(tasks, 0, 1, p[(0, 1)])
    assert copied is not None and copied.similarity > 0.6
    assert copied.passages and "softmax" in copied.passages[0].text_a + copied.passages[-1].text_a
    assert all(value > 0.01 for pair, value in p.items() if pair != (0, 1))


def test_the_starter_and_the_reference_are_not_evidence():
    reference_path = GRADERS / "fusion" / "reference.py"
    reference = reference_path.read_text()
    starter = generate_starter(reference_path)
    solution = "\n".join(line for line in reference.splitlines() if "SOLUTION" not in line)
    sheets = [sheet("s1", "fusion", starter), sheet("s2", "fusion", starter)]
    sheets += [sheet("s3", "fusion", solution), sheet("s4", "fusion", solution)]
    tasks = code.prepare(sheets, {"fusion": starter}, {"fusion": reference})
    assert code.candidates(tasks) == set()
    # Without removing them, the same files look identical: the removal is what clears them.
    unfiltered = code.prepare(sheets, {}, {})
    assert (0, 1) in code.candidates(unfiltered) and (2, 3) in code.candidates(unfiltered)
