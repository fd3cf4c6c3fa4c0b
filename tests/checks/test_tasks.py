"""Task metadata read from the starter stubs with ast, and the stubs' agreement with the references."""

import ast
import subprocess
import sys

import pytest

from mmexam.checks.tasks import (
    accepts,
    defined_functions,
    function_info,
    list_tasks,
    module_docstring,
    public_functions,
    starter_source,
    task_functions,
)
from mmexam.errors import GradeError
from mmexam.paths import GRADERS

TASKS = ["contrastive", "fusion", "generation", "mllm"]


def test_the_four_tasks_and_their_functions():
    assert list_tasks() == TASKS
    assert task_functions("fusion") == [
        "additive_multiplicative",
        "tensor_fusion",
        "tensor_fusion_linear",
        "gated_fusion",
    ]
    assert task_functions("contrastive") == ["similarity_matrix", "info_nce", "clip_loss"]
    assert task_functions("mllm") == ["project_visual_tokens", "gated_cross_attention"]
    assert task_functions("generation") == [
        "reparameterize",
        "vae_loss",
        "q_sample",
        "p_sample_step",
        "flow_matching_pair",
        "euler_sample",
    ]


def test_function_info_gives_signature_and_docstring():
    info = function_info("fusion", "tensor_fusion")
    assert info.signature == "tensor_fusion(x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor"
    assert info.params == ("x_a", "x_b")
    assert info.docstring.startswith("Tensor fusion: the flattened outer product of [x_a, 1]")
    assert "0-based" in function_info("generation", "q_sample").docstring
    assert "Shapes:" in module_docstring("generation")


def test_unknown_task_and_function_are_one_line_errors():
    with pytest.raises(GradeError, match="unknown code task 'vision' — known tasks: contrastive"):
        task_functions("vision")
    with pytest.raises(GradeError, match="has no function 'nope'"):
        function_info("mllm", "nope")


@pytest.mark.parametrize("task", TASKS)
def test_starter_has_the_references_signatures_and_docstrings_and_only_raises(task):
    reference = (GRADERS / task / "reference.py").read_text(encoding="utf-8")
    starter = starter_source(task)
    assert public_functions(starter) == public_functions(reference)
    assert ast.get_docstring(ast.parse(starter)) == ast.get_docstring(ast.parse(reference))
    for node in ast.parse(starter).body:
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:]  # after the docstring
            assert len(body) == 1 and isinstance(body[0], ast.Raise), node.name
            assert "NotImplementedError" in ast.unparse(body[0])


def test_student_signatures_are_read_without_running_the_code():
    source = "import os\nos.system('false')\ndef f(a, b=1): ...\ndef g(*args): ...\n"
    found = defined_functions(source)
    assert accepts(found["f"], 1) and accepts(found["f"], 2) and not accepts(found["f"], 3)
    assert accepts(found["g"], 7)
    assert defined_functions("def broken(:\n") is None


def test_reading_tasks_does_not_import_torch():
    code = (
        "import sys\n"
        "from mmexam.checks.tasks import task_function_infos, starter_source\n"
        "task_function_infos('generation'); starter_source('fusion')\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
