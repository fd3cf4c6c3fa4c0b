"""`mmexam practice quiz` as a student uses it: a real terminal, driven by pexpect.

Each test spawns `python -m mmexam practice quiz` on a pseudo-terminal with the
small fixture bank, reads the options as printed (they are shuffled), types
answers right and wrong, and checks the feedback, the final score, and the
history file in a temporary MMEXAM_HOME.
"""

import json
import os
import re
import signal
import sys

import pexpect
import pytest

from mmexam.markup import to_plain

BANK = "banks/practice"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")

# The right option texts of the fixture bank, as the terminal shows them.
VAE_RIGHT = to_plain(r"$z = \mu + \sigma \odot \epsilon$")  # z = μ + σ ⊙ ϵ
RIGHT = {
    "clip-temperature": ["It sharpens the distribution"],
    "clip-properties": ["It is symmetric in the two modalities", "It uses in-batch negatives"],
}


def plain(text: str) -> str:
    return ANSI.sub("", text).replace("\r\n", "\n")


class Quiz:
    """A running quiz: send answers, collect everything it printed."""

    def __init__(self, tmp_path, bank, *args):
        env = dict(os.environ, MMEXAM_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
        env.pop("COLUMNS", None)
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "mmexam", "practice", "quiz", "--bank", str(bank), *args],
            env=env,
            encoding="utf-8",
            timeout=60,
            dimensions=(50, 160),
            # A runner started in the background (CI, `cmd &`) passes SIGINT on ignored,
            # and Python then never turns Ctrl-C into KeyboardInterrupt: a student's
            # terminal has it at the default.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.transcript = ""

    def prompt(self, pattern: str = r"Your answer[^:]*: ") -> str:
        """Wait for a prompt; return what was printed since the last one (without colours)."""
        self.child.expect(pattern)
        seen = plain(self.child.before + self.child.after)
        self.transcript += seen
        return seen

    def send(self, text: str) -> None:
        self.child.sendline(text)

    def finish(self) -> str:
        self.child.expect(pexpect.EOF)
        self.transcript += plain(self.child.before)
        self.child.close()
        return self.transcript

    @property
    def status(self) -> int:
        return self.child.exitstatus


# The quiz never prints bank ids (an id can give the answer away): the tests know
# the fixture bank's questions by the start of their text.
STEMS = {
    "What does a lower temperature": "clip-temperature",
    "Which expression is the reparameterisation trick": "vae-trick",
    "Select all that apply to the CLIP loss": "clip-properties",
    "Tensor fusion of a": "tensor-size",
    "Why does gated fusion help": "gating-why",
    "Tensor fusion combines x_A and x_B": "fusion-problem",
}


def header(screen: str) -> str:
    """The fixture id of the question on screen (the last one printed)."""
    shown = screen.rsplit("Question ", 1)[-1]
    assert not re.search(r" · [a-z0-9]+(-[a-z0-9]+)+ · ", shown), "the quiz printed a bank id"
    found = [qid for stem, qid in STEMS.items() if stem in shown]
    assert found, shown
    return found[0]


def options(screen: str) -> dict[str, str]:
    """Displayed option text -> letter, from the last block of options printed."""
    block = screen.rsplit("Question ", 1)[-1]
    return {
        text.strip(): letter
        for letter, text in re.findall(r"^\s+([a-z])\) (.+)$", block, re.MULTILINE)
    }


def letter_of(screen: str, text: str) -> str:
    return options(screen)[text]


def wrong_letter(screen: str, right: list[str]) -> str:
    return next(letter for text, letter in options(screen).items() if text not in right)


@pytest.fixture
def bank(fixture_copy):
    return fixture_copy(BANK)


def history(tmp_path) -> dict:
    return json.loads((tmp_path / "home" / "practice-history.json").read_text(encoding="utf-8"))


def test_answers_right_and_wrong_get_feedback_a_score_and_a_review(tmp_path, bank):
    quiz = Quiz(tmp_path, bank, "--part", "mcq", "--count", "4", "--seed", "3")
    asked = []
    for _ in range(4):
        screen = quiz.prompt()
        qid = header(screen)
        asked.append(qid)
        if qid == "clip-temperature":  # right
            quiz.send(letter_of(screen, RIGHT[qid][0]))
        elif qid == "vae-trick":  # wrong; its options are LaTeX, shown as readable text
            assert "μ" in screen and "\\mu" not in screen and "$" not in screen, screen
            quiz.send(wrong_letter(screen, [VAE_RIGHT]))
        elif qid == "clip-properties":  # one of the two right options: half the points
            quiz.send(letter_of(screen, RIGHT[qid][0]))
        else:  # tensor-size: (3+1)(4+1) = 20, answered 21
            assert qid == "tensor-size"
            assert "a 3-dimensional and a 4-dimensional vector" in screen
            quiz.send("21")
    out = quiz.finish()
    assert quiz.status == 0, out
    assert sorted(asked) == ["clip-properties", "clip-temperature", "tensor-size", "vae-trick"]
    assert "✓ Right — 2 / 2 points." in out
    assert "Dividing the logits by a smaller temperature sharpens the softmax." in out
    wrong = rf"✗ Wrong — you answered [a-c]; the answer is [a-c]\) {re.escape(VAE_RIGHT)}\n"
    assert re.search(wrong, out), out
    assert re.search(
        r"~ Partly right — 1 / 2 points: you picked [a-c]; [a-c] is missing\. The answers are [a-c]\) ",
        out,
    ), out
    assert "✗ Wrong — you answered 21; the answer is 20 (exact)." in out
    assert "Explanation: Each vector gets a 1 appended: (3+1)(4+1) entries." in out
    assert "Score: 3 / 8 points (38%) — 1 of 4 questions fully right." in out
    assert "Traceback" not in out
    missed = {qid for qid, entry in history(tmp_path)["questions"].items() if entry["missed_last"]}
    assert missed == {"vae-trick", "clip-properties", "tensor-size"}

    review = Quiz(tmp_path, bank, "--part", "mcq", "--count", "3", "--review", "--seed", "4")
    first = []
    for _ in range(3):
        screen = review.prompt()
        qid = header(screen)
        first.append(qid)
        if qid == "tensor-size":
            review.send("20")
        elif qid == "vae-trick":
            review.send(letter_of(screen, VAE_RIGHT))
        else:
            review.send(" ".join(letter_of(screen, text) for text in RIGHT[qid]))
    out = review.finish()
    assert sorted(first) == ["clip-properties", "tensor-size", "vae-trick"], out
    assert "Score: 6 / 6 points (100%) — 3 of 3 questions fully right." in out
    entries = history(tmp_path)["questions"]
    assert not any(entry["missed_last"] for entry in entries.values())
    assert entries["tensor-size"]["asked"] == 2 and entries["tensor-size"]["missed"] == 1


def test_problems_self_assessment_and_code_parts(tmp_path, bank):
    quiz = Quiz(
        tmp_path, bank, "--part", "fusion", "--part", "short", "--count", "2", "--seed", "0"
    )
    done = set()
    while len(done) < 2:
        screen = quiz.prompt(r"Your answer[^:]*: |Points you award yourself \(0–5\): ")
        if "Points you award" in screen:  # the short answer, after its rubric
            assert (
                "Reference answer:\n  The gate learns to down-weight the noisy modality" in screen
            )
            assert "  ✓ [3] The gate down-weights the noisy modality" in screen
            assert "  ✓ [2] Relates gating to attention" in screen
            quiz.send("4")
            done.add("gating-why")
        elif "Why does gated fusion help" in screen.rsplit("Question ", 1)[-1]:
            quiz.send("The gate can down-weight the noisy one, like attention.")
        elif "How many entries" in screen:
            assert "Tensor fusion combines x_A and x_B through an outer product." in screen
            quiz.send("9")
        else:  # (b), then the code part (c) asks nothing
            quiz.send(letter_of(screen, "Only bimodal"))
            done.add("fusion-problem")
    out = quiz.finish()
    assert quiz.status == 0, out
    assert "You awarded yourself 4 / 5 points." in out
    assert "✓ Right — 3 / 3 points." in out
    assert "✗ Wrong — you answered" in out and "the answer is " in out
    assert "The appended 1 keeps the unimodal terms." in out
    assert "(c) Implement tensor fusion." in out
    assert "Code: implement tensor_fusion in fusion.py." in out
    assert "Check it with: mmexam practice check fusion fusion.py" in out
    assert "torch.einsum" not in out  # a code part's worked solution is reference code
    assert "Score: 7 / 10 points (70%) — 0 of 2 questions fully right." in out
    assert "1 code part(s) to practise with `mmexam practice check`." in out


def test_a_malformed_answer_is_asked_again(tmp_path, bank):
    quiz = Quiz(tmp_path, bank, "--part", "mcq", "--topic", "tensor-fusion", "--count", "1")
    quiz.prompt()
    quiz.send("twenty")
    screen = quiz.prompt()
    assert "type a number, e.g. 42, -0.5, 1e-3 or 3/4" in screen
    quiz.send("4*5")
    quiz.prompt()
    quiz.send("20")
    out = quiz.finish()
    assert "Score: 2 / 2 points (100%) — 1 of 1 question fully right." in out


@pytest.mark.parametrize(
    ("stop", "status", "why"), [("intr", 130, "Ctrl-C"), ("eof", 0, "end of input")]
)
def test_ctrl_c_and_eof_end_with_the_score_so_far(tmp_path, bank, stop, status, why):
    quiz = Quiz(tmp_path, bank, "--part", "mcq", "--topic", "contrastive", "--seed", "5")
    screen = quiz.prompt()
    quiz.send(" ".join(letter_of(screen, text) for text in RIGHT[header(screen)]))
    quiz.prompt()  # the second question: stop here
    quiz.child.sendintr() if stop == "intr" else quiz.child.sendeof()
    out = quiz.finish()
    assert quiz.status == status, out
    assert f"Quiz ended ({why})." in out
    assert "Score so far: 2 / 2 points (100%) — 1 of 1 question fully right." in out
    assert "Traceback" not in out and "Aborted" not in out
    assert history(tmp_path)["questions"]  # what was answered is kept
