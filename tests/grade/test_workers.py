"""Code in workers: the worker's result crosses the process boundary as the one result model."""

from contextlib import contextmanager

from mmexam.checks.results import TaskResult
from mmexam.grade.workers import StudentCode, grade_code_job


class _NoSandbox:
    @contextmanager
    def session(self, student):
        yield


def test_a_grader_failure_is_a_task_result_that_validates_on_the_other_side():
    job = {"student": "s001", "files": {"no_such_task": ("def f(): ...", "no_such_task.py")}}
    sent = grade_code_job(_NoSandbox(), job)
    received = StudentCode.model_validate(sent)
    result = received.tasks["no_such_task"]
    assert isinstance(result, TaskResult)
    assert result.filename == "no_such_task.py"
    assert result.failure.startswith("GradeError: unknown code task 'no_such_task'")
    assert result.checks == [] and result.score == 0
