"""The online exam in process: saving, the clock, submitting, staff actions, security."""

from __future__ import annotations

import json
import re

import pytest

from mmexam.serve.site import MAX_FAILURES_PER_STUDENT


def saved(harness, sid: str) -> dict:
    return {k: r.value for k, r in harness.db.latest(sid).items()}


def keys(harness, sid: str, kind: str) -> list[str]:
    """The printed numbers of the student's items of one kind (papers differ per student)."""
    return [i.number for i in harness.exam.students[sid].items if i.kind == kind]


def save(client, token, changes, **extra):
    headers = {"x-csrf-token": token} if token else {}
    return client.post("/api/save", json={"changes": changes, **extra}, headers=headers)


# ---------------------------------------------------------------- the paper


def test_the_paper_is_the_built_exam_with_a_field_per_item(harness, built):
    client, _ = harness.student("s2024001")
    page = client.get("/paper").text
    built_page = (built / "students" / "s2024001" / "exam.html").read_text()
    student = harness.exam.students["s2024001"]
    # the same questions and option texts, in the same order, as the built page
    for item in student.items:
        assert f'id="q-{item.number}"' in page and f'id="q-{item.number}"' in built_page
    options = re.findall(r'<span class="option-text">(.*?)</span></li>', built_page)
    assert options and options == re.findall(r'<span class="option-text">(.*?)</span></li>', page)
    for item in student.items:
        if item.kind == "mcq":
            assert f'name="a-{item.number}" value="a"' in page
        elif item.kind in ("numeric", "short_answer", "open"):
            assert f'data-key="{item.number}"' in page
    for task in harness.exam.tasks("s2024001"):
        assert f'data-key="file:{task}.py"' in page
        assert f'class="run-checks" data-task="{task}"' in page
    # every asset comes from mmexam itself
    assert not re.search(r'(src|href)="(https?:)?//', page)
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert client.get(asset).status_code == 200


def test_saves_are_appended_never_overwritten(harness):
    client, token = harness.student("s2024001")
    key = keys(harness, "s2024001", "mcq")[0]
    for value in ("a", "b", "c"):
        assert save(client, token, [{"key": key, "value": value}]).status_code == 200
    history = harness.db.history("s2024001", key)
    assert [r.value for r in history] == ["a", "b", "c"]
    assert saved(harness, "s2024001")[key] == "c"
    # the answer at any moment can be recovered
    assert harness.db.latest("s2024001", at=history[1].saved_at)[key].value in ("b", "c")


def test_numbers_are_read_as_grading_reads_them(harness):
    client, token = harness.student("s2024001")
    a, b, c = keys(harness, "s2024001", "numeric")[:3]
    got = save(client, token, [{"key": a, "value": "3/4"}, {"key": b, "value": "1e-3"}])
    assert got.json()["readings"] == {a: "0.75", b: "0.001"}
    got = save(client, token, [{"key": c, "value": "about ten"}])
    assert got.json()["readings"] == {c: None}
    assert "read as 0.75" in client.get("/paper").text


def test_values_that_do_not_fit_their_field_are_refused(harness):
    client, token = harness.student("s2024001")
    mcq, multi = keys(harness, "s2024001", "mcq")[0], keys(harness, "s2024001", "multi_select")[0]
    text = keys(harness, "s2024001", "short_answer")[0]
    for change in (
        {"key": mcq, "value": "z"},
        {"key": multi, "value": "a"},
        {"key": multi, "value": ["a", "q"]},
        {"key": "9.9", "value": "x"},
        {"key": "file:../../etc/passwd", "value": "x"},
        {"key": text, "value": ["x"]},
    ):
        response = save(client, token, [{"key": text, "value": "fine"}, change])
        assert response.status_code == 422, (change, response.text)
    assert saved(harness, "s2024001") == {}


def test_submit_gives_the_receipt_grading_computes(harness, tmp_path):
    from mmexam.grade.submissions import Entry, read_submission
    from mmexam.serve.export import export_submissions

    client, token = harness.student("s2024001")
    key = keys(harness, "s2024001", "mcq")[0]
    task = harness.exam.tasks("s2024001")[0]
    save(
        client, token, [{"key": key, "value": "b"}, {"key": f"file:{task}.py", "value": "x = 1\n"}]
    )
    response = client.post("/api/submit", json={"confirm": True}, headers={"x-csrf-token": token})
    assert response.status_code == 200
    digest = response.json()["receipt"]
    assert response.json()["state"]["submitted"] and response.json()["state"]["locked"]
    # after submitting, writes are refused and nothing is stored
    assert save(client, token, [{"key": key, "value": "c"}]).status_code == 409
    assert saved(harness, "s2024001")[key] == "b"
    result = export_submissions(harness.db, harness.exam, tmp_path / "subs")
    folder = tmp_path / "subs" / "s2024001"
    assert read_submission(Entry("s2024001", folder, "folder")).digest() == digest
    assert result.digests["s2024001"] == digest
    assert digest in client.get("/paper").text


def test_the_deadline_is_the_servers_with_extra_time(harness):
    client, token = harness.student("s2024002")
    key = keys(harness, "s2024002", "short_answer")[0]
    assert save(client, token, [{"key": key, "value": "a"}]).status_code == 200
    harness.clock.now += 61 * 60  # past start + 60 minutes
    response = save(client, token, [{"key": key, "value": "b"}])
    assert response.status_code == 403 and "ended" in response.json()["error"]
    assert response.json()["state"]["locked"]
    assert saved(harness, "s2024002")[key] == "a"
    assert "your paper can no longer be changed" in client.get("/paper").text
    # the staff give 10 more minutes: the student writes again
    staff, staff_token = harness.staff()
    response = staff.post(
        "/staff/extra",
        data={"csrf": staff_token, "student": "s2024002", "minutes": "10"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert save(client, token, [{"key": key, "value": "b"}]).status_code == 200
    # auto-submission at the deadline, with the answers saved until then
    harness.clock.now += 11 * 60
    assert harness.app.state.auto_submit_due() == 1
    row = harness.db.student("s2024002")
    assert row["submitted_how"] == "deadline" and row["receipt"]
    # reopening gives the paper back for a while
    response = staff.post(
        "/staff/reopen",
        data={"csrf": staff_token, "student": "s2024002", "minutes": "5"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert save(client, token, [{"key": key, "value": "c"}]).status_code == 200
    assert harness.db.student("s2024002")["submitted_at"] is None


def test_staff_page_shows_who_is_working(harness):
    harness.student("s2024003")
    staff, _ = harness.staff()
    page = staff.get("/staff").text
    row = re.search(r'<tr id="row-s2024003">(.*?)</tr>', page, re.DOTALL).group(1)
    assert "s ago" in row and "never" not in row
    row = re.search(r'<tr id="row-s2024004">(.*?)</tr>', page, re.DOTALL).group(1)
    assert "never" in row


# ---------------------------------------------------------------- security


def test_wrong_and_replaced_codes_are_refused(harness):
    from mmexam.serve.codes import issue_codes

    client = harness.client()
    assert harness.login(client, "s2024001", "AAAA-BBBB-CCCC-DDDD").status_code == 401
    assert harness.login(client, "nobody", harness.codes["s2024001"]).status_code == 401
    assert harness.login(client, "s2024002", harness.codes["s2024001"]).status_code == 401
    old = harness.codes["s2024005"]
    issue_codes(harness.db, harness.exam, only=["s2024005"], regenerate=True)
    assert harness.login(client, "s2024005", old).status_code == 401
    assert client.get("/paper", follow_redirects=False).status_code == 303  # still logged out
    assert harness.db.student("s2024001")["first_login_at"] is None


def test_failed_logins_are_rate_limited(harness):
    client = harness.client()
    for _ in range(MAX_FAILURES_PER_STUDENT):
        assert harness.login(client, "s2024006", "WRONG-CODE").status_code == 401
    # even the right code waits now
    response = harness.login(client, "s2024006")
    assert response.status_code == 429 and response.headers["retry-after"]
    harness.clock.now += 601
    assert harness.login(client, "s2024006").status_code == 303


def test_session_cookies_are_signed_httponly_and_strict(harness):
    client = harness.client()
    response = harness.login(client, "s2024001")
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    forged = harness.client()
    forged.cookies.set("mmexam_session", cookie.split(";")[0].split("=", 1)[1][:-3] + "abc")
    assert forged.get("/paper", follow_redirects=False).status_code == 303
    assert response.headers.get("content-security-policy") or client.get("/paper").headers[
        "content-security-policy"
    ].startswith("default-src 'self'")


def test_writes_without_csrf_token_are_refused(harness):
    client, _token = harness.student("s2024001")
    assert save(client, None, [{"key": "1.1", "value": "a"}]).status_code == 403
    assert save(client, "0" * 64, [{"key": "1.1", "value": "a"}]).status_code == 403
    response = client.post("/api/submit", json={"confirm": True})
    assert response.status_code == 403
    response = client.post("/api/check", json={"task": "fusion", "source": "x"})
    assert response.status_code == 403
    staff, _ = harness.staff()
    response = staff.post("/staff/extra", data={"student": "s2024001", "minutes": "30"})
    assert response.status_code == 403
    assert saved(harness, "s2024001") == {}
    assert harness.db.student("s2024001")["extra_minutes"] == 0
    # the login form has its own token
    fresh = harness.client()
    response = fresh.post("/login", data={"student": "s2024001", "code": harness.codes["s2024001"]})
    assert response.status_code == 403


def test_a_student_reaches_only_their_own_paper(harness):
    client, token = harness.student("s2024002")
    response = save(client, token, [{"key": "1.1", "value": "a"}], student="s2024001")
    assert response.status_code == 403
    assert saved(harness, "s2024001") == {} and saved(harness, "s2024002") == {}
    first, first_token = harness.student("s2024001")
    text = keys(harness, "s2024001", "short_answer")[0]
    response = save(first, first_token, [{"key": text, "value": "ADA-SECRET-ANSWER"}])
    assert response.status_code == 200
    for url in (
        "/paper?student=s2024001",
        "/paper/s2024001",
        "/students/s2024001/exam.html",
        "/staff/paper/s2024001",
        "/staff",
        "/api/state?student=s2024001",
        "/api/check/fusion?student=s2024001",
        "/static/../../variants.json",
        "/static/..%2f..%2fvariants.json",
    ):
        response = client.get(url, follow_redirects=True)
        assert "ADA-SECRET-ANSWER" not in response.text, url
        assert "Ada Okafor" not in response.text, url
    assert "Bruno Silva" in client.get("/paper").text


def test_script_in_an_answer_is_escaped_everywhere(harness):
    client, token = harness.student("s2024001")
    evil = '</textarea><script>alert("x")</script><img src=x onerror=alert(1)>'
    text, number = (
        keys(harness, "s2024001", "short_answer")[0],
        keys(harness, "s2024001", "numeric")[0],
    )
    save(client, token, [{"key": text, "value": evil}, {"key": number, "value": evil}])
    staff, _ = harness.staff()
    for page in (client.get("/paper").text, staff.get("/staff/paper/s2024001").text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert" in page
        state = re.search(r'id="mmexam-state">(.*?)</script>', page, re.DOTALL).group(1)
        json.loads(state)


def test_oversized_bodies_are_refused(harness):
    client, token = harness.student("s2024001")
    big = "x" * (harness.config.max_body + 10)
    response = save(client, token, [{"key": "file:fusion.py", "value": big}])
    assert response.status_code == 413
    response = client.post(
        "/api/save",
        content=iter([b'{"changes": [{"key": "2.1", "value": "', b"y" * 300_000, b'"}]}']),
        headers={"x-csrf-token": token, "content-type": "application/json"},
    )
    assert response.status_code == 413
    long_answer = "z" * 20_001
    text = keys(harness, "s2024001", "short_answer")[0]
    assert save(client, token, [{"key": text, "value": "fits"}]).status_code == 200
    response = save(client, token, [{"key": text, "value": long_answer}])
    assert response.status_code == 422 and "longer than" in response.json()["error"]
    assert saved(harness, "s2024001") == {text: "fits"}


def test_staff_pages_need_the_staff_password(harness):
    client = harness.client()
    assert client.get("/staff", follow_redirects=False).status_code == 303
    page = client.get("/staff/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response = client.post("/staff/login", data={"csrf": csrf, "password": "guess"})
    assert response.status_code == 401
    student, _ = harness.student("s2024001")
    assert student.get("/staff", follow_redirects=False).status_code == 303
    assert student.post("/staff/reopen", data={"student": "s2024001"}).status_code == 401


@pytest.mark.sandbox
def test_public_checks_run_in_the_sandbox(harness):
    import time

    client, token = harness.student("s2024001")
    source = (harness.exam.build / "starter" / "fusion.py").read_text()
    headers = {"x-csrf-token": token}
    response = client.post("/api/check", json={"task": "fusion", "source": source}, headers=headers)
    assert response.status_code == 202, response.text
    run = response.json()["run"]
    for _ in range(600):
        result = client.get("/api/check/fusion").json()
        if result["status"] in ("done", "failed") and result["id"] >= run:
            break
        time.sleep(0.5)
    assert result["status"] == "done", result
    checks = result["result"]["checks"]
    assert checks and all(c["visibility"] == "public" for c in checks)
    assert any("NotImplementedError" in c["message"] for c in checks)
    assert saved(harness, "s2024001")["file:fusion.py"] == source


def test_one_check_run_per_student_in_a_bounded_queue(harness):
    import threading

    from mmexam.checks import TaskResult
    from mmexam.serve.checks import Busy, CheckQueue

    gate = threading.Event()
    ran: list[str] = []

    def runner(_sandbox, task, source):
        gate.wait()
        ran.append(source)
        return TaskResult(task=task)

    queue = CheckQueue(harness.db, 1, runner=runner)
    queue.start()
    try:
        first = queue.submit("s2024001", "fusion", "one")
        with pytest.raises(Busy):
            queue.submit("s2024001", "fusion", "two")
        queue.submit("s2024002", "fusion", "other student")
        gate.set()
        for _ in range(1000):
            if harness.db.last_check_run("s2024002", "fusion")["status"] == "done":
                break
            threading.Event().wait(0.01)
        assert harness.db.last_check_run("s2024001", "fusion")["id"] == first
        assert queue.submit("s2024001", "fusion", "three")
    finally:
        queue.stop()
    assert ran == ["one", "other student", "three"]


def test_before_the_start_the_paper_waits_and_writes_are_refused(harness):
    harness.config.start = harness.clock.now + 600
    client = harness.client()
    assert harness.login(client, "s2024007").status_code == 303
    page = client.get("/paper").text
    assert "The exam starts at" in page and 'id="q-1.1"' not in page
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    key = keys(harness, "s2024007", "short_answer")[0]
    response = save(client, token, [{"key": key, "value": "early"}])
    assert response.status_code == 403 and "starts at" in response.json()["error"], response.text
    assert saved(harness, "s2024007") == {}
