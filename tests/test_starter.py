"""The starter students get is generated from the reference: the contract holds, markers balance."""

import ast
import importlib.util
import inspect

import pytest

from mmexam.errors import StarterError
from mmexam.paths import GRADERS
from mmexam.starter import generate_starter, solution_blocks, starter_from_reference

TASKS = ["contrastive", "fusion", "generation", "mllm"]


def top_level_functions(source: str) -> dict[str, ast.FunctionDef]:
    return {
        node.name: node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
    }


@pytest.mark.parametrize("task", TASKS)
def test_the_starter_keeps_the_contract_and_only_raises(task):
    reference = (GRADERS / task / "reference.py").read_text(encoding="utf-8")
    starter = generate_starter(GRADERS / task / "reference.py")
    ours, theirs = top_level_functions(starter), top_level_functions(reference)
    assert list(ours) == list(theirs)
    assert ast.get_docstring(ast.parse(starter)) == ast.get_docstring(ast.parse(reference))
    for name, node in ours.items():
        assert ast.unparse(node.args) == ast.unparse(theirs[name].args), name
        assert ast.unparse(node.returns) == ast.unparse(theirs[name].returns), name
        assert ast.get_docstring(node) == ast.get_docstring(theirs[name]), name
        body = node.body[1:]  # after the docstring
        assert len(body) == 1 and isinstance(body[0], ast.Raise), name
        assert ast.unparse(body[0]) == f"raise NotImplementedError('{name}')"
    assert "SOLUTION" not in starter


@pytest.mark.parametrize("task", TASKS)
def test_the_starter_imports_and_every_function_raises_not_implemented(task, tmp_path):
    path = tmp_path / f"{task}.py"
    path.write_text(generate_starter(GRADERS / task / "reference.py"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"starter_{task}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in top_level_functions(path.read_text()):
        function = getattr(module, name)
        arguments = [None] * len(inspect.signature(function).parameters)
        with pytest.raises(NotImplementedError, match=name):
            function(*arguments)


def test_a_top_level_block_is_dropped_and_the_blank_lines_close_up():
    reference = (
        '"""Doc."""\n\n'
        "# BEGIN SOLUTION\nimport math\n# END SOLUTION\n\n"
        "import torch\n\n\n"
        "# BEGIN SOLUTION\ndef _helper(x):\n    return x\n\n\n# END SOLUTION\n\n\n"
        "def f(x):\n"
        '    """Contract."""\n'
        "    y = 1  # given to students\n"
        "    # BEGIN SOLUTION\n    return _helper(x) + y\n    # END SOLUTION\n"
    )
    assert starter_from_reference(reference) == (
        '"""Doc."""\n\nimport torch\n\n\n'
        'def f(x):\n    """Contract."""\n    y = 1  # given to students\n'
        '    raise NotImplementedError("f")\n'
    )


def test_a_method_block_names_the_method():
    reference = (
        "class Net:\n    def forward(self, x):\n"
        "        # BEGIN SOLUTION\n        return x\n        # END SOLUTION\n"
    )
    assert 'raise NotImplementedError("forward")' in starter_from_reference(reference)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "def f():\n    # BEGIN SOLUTION\n    return 1\n",
            "graders/t/reference.py:2: '# BEGIN SOLUTION' is never closed — add '# END SOLUTION'",
        ),
        (
            "def f():\n    return 1\n    # END SOLUTION\n",
            "graders/t/reference.py:3: '# END SOLUTION' without a '# BEGIN SOLUTION' above it",
        ),
        (
            (
                "def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    return 1\n"
                "    # END SOLUTION\n"
            ),
            "graders/t/reference.py:3: '# BEGIN SOLUTION' inside the block opened at line 2",
        ),
        (
            "def f():\n    # BEGIN SOLUTION\n    return 1\n# END SOLUTION\n",
            "graders/t/reference.py:4: '# END SOLUTION' is indented differently",
        ),
        (
            "def f():\n    # BEGIN SOLUTIONS\n    return 1\n    # END SOLUTION\n",
            (
                "graders/t/reference.py:2: '# BEGIN SOLUTIONS' is not a marker — "
                "write it exactly '# BEGIN SOLUTION'"
            ),
        ),
        (
            "def f():\n    return 1\n",
            (
                "graders/t/reference.py:1: function 'f' has no solution block — "
                "its body would reach students"
            ),
        ),
        (
            "def f(:\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n",
            "graders/t/reference.py:1: does not parse",
        ),
    ],
    ids=["unclosed", "unopened", "nested", "indent", "lookalike", "unmarked", "syntax"],
)
def test_unbalanced_or_missing_markers_are_refused_with_file_and_line(source, message):
    with pytest.raises(StarterError) as caught:
        starter_from_reference(source, "graders/t/reference.py")
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_private_helper_needs_no_block_and_stays():
    reference = (
        "def _given(x):\n    return x\n\n\n"
        "def f(x):\n    # BEGIN SOLUTION\n    return _given(x)\n    # END SOLUTION\n"
    )
    starter = starter_from_reference(reference)
    assert "def _given(x):\n    return x" in starter
    assert len(solution_blocks(reference)) == 1


def test_a_missing_reference_is_one_error(tmp_path):
    with pytest.raises(StarterError, match="no reference file"):
        generate_starter(tmp_path / "reference.py")
