"""The review app in process: rubric re-scoring, two TAs at once, overrides, a second MCQ
key, regrades, the audit log, and the hand-back to `mmexam grade`."""

from __future__ import annotations

import csv
import io
import re

import pytest
from review_helpers import grade_again, log_in

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def slot_answers(client, number: str) -> list[dict]:
    """The answers of a slot page as its script sees them (id, version, key, applied)."""
    html = client.get(f"/slot/{number}").text
    found = re.findall(
        r'<article class="answer (\w+)" id="[^"]+" data-id="([^"]+)" data-version="(\d+)" '
        r'data-key="([^"]+)" data-applied="([^"]*)"',
        html,
    )
    return [
        {"state": s, "id": i, "version": int(v), "key": k, "applied": a.split()}
        for s, i, v, k, a in found
    ]


def rubric_items(client, number: str) -> list[dict]:
    html = client.get(f"/slot/{number}").text
    return [
        {"id": int(i), "version": int(v)}
        for i, v in re.findall(
            r'<li class="rubric-item" data-rubric="(\d+)" data-version="(\d+)"', html
        )
    ]


def totals(client) -> dict[str, float]:
    html = client.get("/").text
    rows = re.findall(r'<tr data-student="([^"]+)">.*?<td class="total">([^<]+)</td>', html)
    return {sid: float(total) for sid, total in rows}


def api(client, action: str, body: dict):
    return client.post(f"/api/{action}", json=body, headers={"x-csrf-token": client.csrf})


def grades_rows(text: str) -> dict[str, dict[str, str]]:
    return {row["id"]: row for row in csv.DictReader(io.StringIO(text))}


def test_a_rubric_item_changed_rescores_everyone_and_grading_picks_it_up(app, example):
    ta = log_in(app, "Ann")
    answers = slot_answers(ta, "2.1")
    key = answers[0]["key"]
    same = [a["id"] for a in answers if a["key"] == key]
    first = rubric_items(ta, "2.1")[0]
    assert api(ta, "toggle", {"ids": same, "rubric": first["id"], "on": True}).status_code == 200
    before = totals(ta)
    reply = api(
        ta,
        "rubric-edit",
        {"id": first["id"], "version": first["version"], "points": 0.5, "description": "edited"},
    )
    assert reply.status_code == 200, reply.text
    assert sorted(reply.json()["answers"]) == sorted(same)
    after = totals(ta)
    students = {aid.split("|")[0] for aid in same}
    for sid in students:
        assert after[sid] != before[sid], sid
    assert {c["id"] for c in reply.json()["changed"]} == students
    for sid in set(after) - students:
        assert after[sid] == before[sid], sid
    # the review is the source of a re-run of `mmexam grade`: the same grades.csv
    shown = ta.get("/grades.csv").text
    grade_again(example)
    written = (example / "grades" / "grades.csv").read_text(encoding="utf-8")
    assert written == shown
    rows = grades_rows(written)
    for sid in students:
        assert rows[sid]["pending"] != "", sid
    # the sheets written by the run carry the review's points (CSV export)
    sheet = (example / "manual" / f"{key}.csv").read_text(encoding="utf-8")
    assert "0.5" in sheet


def test_pending_answers_are_never_counted_as_zero(app, example):
    ta = log_in(app, "Ann")
    answers = slot_answers(ta, "2.2")
    graded = answers[0]
    assert api(ta, "grade", {"ids": [graded["id"]], "graded": True}).status_code == 200
    summary = grade_again(example)
    by_id = {r.id: r for r in summary.results}
    for a in answers:
        sid, number = a["id"].split("|")
        item = next(i for i in by_id[sid].items if i.number == number)
        if a["id"] == graded["id"]:
            assert item.points == 0.0 and item.status == "manual"
        else:
            assert item.points is None and item.pending, a["id"]


def test_two_tas_on_one_answer_keep_each_others_work(app):
    ann, bob = log_in(app, "Ann"), log_in(app, "Bob")
    seen_by_bob = slot_answers(bob, "2.3")[0]
    seen_by_ann = slot_answers(ann, "2.3")[0]
    one, two = rubric_items(ann, "2.3")[:2]
    aid = seen_by_ann["id"]
    # different rubric items on the same answer at the same time: both count
    assert api(ann, "toggle", {"ids": [aid], "rubric": one["id"], "on": True}).status_code == 200
    assert api(bob, "toggle", {"ids": [aid], "rubric": two["id"], "on": True}).status_code == 200
    now = next(a for a in slot_answers(ann, "2.3") if a["id"] == aid)
    assert set(now["applied"]) == {str(one["id"]), str(two["id"])}
    # a comment written on a stale page is refused, with what is there now
    body = {"id": aid, "version": now["version"], "adjust": 0.5, "comment": "Ann's note"}
    assert api(ann, "note", body).status_code == 200
    stale = {"id": aid, "version": seen_by_bob["version"], "adjust": 0, "comment": "Bob's note"}
    refused = api(bob, "note", stale)
    assert refused.status_code == 409
    assert refused.json()["current"]["comment"] == "Ann's note"
    assert refused.json()["current"]["updated_by"] == "Ann"
    kept = next(a for a in slot_answers(bob, "2.3") if a["id"] == aid)
    assert set(kept["applied"]) == {str(one["id"]), str(two["id"])}
    # a stale rubric edit is refused too
    first = api(
        ann,
        "rubric-edit",
        {"id": one["id"], "version": one["version"], "points": 0.25, "description": "a"},
    )
    assert first.status_code == 200
    second = api(
        bob,
        "rubric-edit",
        {"id": one["id"], "version": one["version"], "points": 0.75, "description": "b"},
    )
    assert second.status_code == 409
    log = ann.get("/audit").text
    assert "Ann" in log and "Bob" in log and "Ann&#39;s note" in log


def _form(client, page: str, action: str) -> dict[str, str]:
    return {"csrf": client.csrf}


def test_override_second_key_and_regrade(app, example):
    ta = log_in(app, "Ann")
    before = totals(ta)
    page = ta.get("/").text
    wrong: list[tuple[str, str]] = []
    for qid in re.findall(r'href="/question/([^"]+)"', page):  # one with a wrong option chosen
        view = ta.get(f"/question/{qid}").text
        wrong = re.findall(
            r'<tr data-option="(\d+)"><td>[^<]*</td><td>(\d+)</td>\s*<td>wrong', view
        )
        if wrong:
            break
    assert wrong, "some student chose a wrong option of some MCQ"
    option = wrong[0][0]
    reply = ta.post("/do/mcq-key", data={"csrf": ta.csrf, "question": qid, "option": option})
    assert reply.status_code == 200
    changed = re.findall(r'<li data-student="([^"]+)">', reply.text)
    assert len(changed) == int(wrong[0][1])
    after = totals(ta)
    assert {s for s in after if after[s] != before[s]} == set(changed)
    # an override of an auto-scored item, with its reason
    sid = "s2024001"
    student = ta.get(f"/student/{sid}").text
    aid, version = re.search(
        r'name="id" value="([^"]+)"><input type="hidden" name="version" value="(\d+)"', student
    ).groups()
    no_reason = ta.post(
        "/do/override",
        data={"csrf": ta.csrf, "id": aid, "version": version, "points": "0", "reason": ""},
    )
    assert "needs a reason" in no_reason.text
    done = ta.post(
        "/do/override",
        data={
            "csrf": ta.csrf,
            "id": aid,
            "version": version,
            "points": "0",
            "reason": "two letters circled",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    number = aid.split("|")[1]
    row = re.search(
        rf'<tr id="item-{re.escape(number)}".*?</tr>', ta.get(f"/student/{sid}").text, re.DOTALL
    )
    assert "two letters circled" in row.group(0)
    # a regrade request, queued and resolved
    ta.post("/do/regrade-add", data={"csrf": ta.csrf, "id": aid, "request": "please look again"})
    rid = re.search(
        r'name="id" value="(\d+)"><input type="hidden" name="back"', ta.get(f"/student/{sid}").text
    ).group(1)
    ta.post("/do/regrade-resolve", data={"csrf": ta.csrf, "id": rid, "reply": "kept", "back": "/"})
    assert "Resolved by Ann: kept" in ta.get(f"/student/{sid}").text
    log = ta.get("/audit").text
    for action in ("mcq-key", "override", "regrade-open", "regrade-resolve"):
        assert action in log, action
    summary = grade_again(example)
    got = {r.id: r for r in summary.results}
    item = next(i for i in got[sid].items if i.number == number)
    assert item.points == 0 and "two letters circled" in (item.comment or "")
    for s in changed:
        assert got[s].total == pytest.approx(after[s]), s


def test_writes_need_the_csrf_token_and_a_login(app):
    ta = log_in(app, "Ann")
    assert ta.post("/api/grade", json={"ids": ["x"]}).status_code == 403
    from starlette.testclient import TestClient

    stranger = TestClient(app, base_url="http://127.0.0.1")
    assert stranger.post("/api/grade", json={}, follow_redirects=False).status_code == 303
    assert stranger.get("/slot/2.1", follow_redirects=False).status_code == 303


def test_rubric_items_are_added_and_reordered(app):
    ta = log_in(app, "Ann")
    key = slot_answers(ta, "2.4")[0]["key"]
    before = [r["id"] for r in rubric_items(ta, "2.4")]
    added = api(ta, "rubric-add", {"key": key, "points": 0.5, "description": "cites the lecture"})
    assert added.status_code == 200, added.text
    new = added.json()["id"]
    assert api(ta, "rubric-move", {"id": new, "delta": -99}).status_code == 200
    order = [r["id"] for r in rubric_items(ta, "2.4")]
    assert order[0] == new and sorted(order[1:]) == sorted(before)
    empty = api(ta, "rubric-add", {"key": key, "points": 1, "description": " "})
    assert empty.status_code == 400 and "description" in empty.json()["error"]


def test_wrong_passwords_are_throttled(app):
    from starlette.testclient import TestClient

    client = TestClient(app, base_url="http://127.0.0.1")
    codes = []
    for _ in range(31):
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        reply = client.post("/login", data={"csrf": token, "name": "Eve", "password": "guess"})
        codes.append(reply.status_code)
    assert codes[:30] == [401] * 30 and codes[30] == 429
