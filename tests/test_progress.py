"""Progress displays: JSON lines for scripts, plain lines for logs, a live bar for people."""

from __future__ import annotations

import io
import json

from grader.run.executors import Event
from grader.run.progress import BarDisplay, JsonlDisplay, PlainDisplay, make_display

EVENTS = [
    Event("started", "alice", 1.0, slot=0),
    Event("started", "mallory", 1.1, slot=1),
    Event("failed", "mallory", 3.0, status="failed", points=0.0, possible=100.0,
          reason="process limit of 64 reached", slot=1),
    Event("finished", "alice", 4.0, status="ok", points=87.5, possible=100.0, slot=0),
    Event("finished", "bob", 4.1, status="ok", points=100.0, possible=100.0, cached=True),
]


def test_jsonl_is_one_event_object_per_line():
    out = io.StringIO()
    display = JsonlDisplay(3, stream=out)
    for event in EVENTS:
        display(event)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["kind"], e["student"]) for e in lines] == [
        ("started", "alice"), ("started", "mallory"), ("failed", "mallory"),
        ("finished", "alice"), ("finished", "bob")]
    assert lines[2] == {"kind": "failed", "student": "mallory", "time": 3.0, "status": "failed",
                        "points": 0.0, "possible": 100.0,
                        "reason": "process limit of 64 reached", "cached": False, "slot": 1}
    assert lines[3]["points"] == 87.5 and lines[4]["cached"] is True


def test_plain_lines_count_done_and_give_the_reason():
    out = io.StringIO()
    display = PlainDisplay(3, stream=out)
    for event in EVENTS:
        display(event)
    assert out.getvalue().splitlines() == [
        "... grading alice",
        "... grading mallory",
        "[1/3] mallory failed 0/100: process limit of 64 reached",
        "[2/3] alice ok 87.5/100",
        "[3/3] bob ok 100/100 (stored result reused)",
    ]


def test_the_bar_shows_done_running_eta_and_failures():
    out = io.StringIO()
    display = BarDisplay(3, stream=out)
    display.console.width = 120
    for event in EVENTS[:3]:
        display(event)
    display.console.print(display._render())
    text = out.getvalue()
    assert "1/3 students" in text and "1 failed" in text
    assert "running: alice" in text and "ETA" in text
    assert "mallory: process limit of 64 reached" in text


def test_auto_picks_plain_lines_off_a_terminal():
    assert isinstance(make_display("auto", 3, is_terminal=False), PlainDisplay)
    assert isinstance(make_display("auto", 3, is_terminal=True), BarDisplay)
    assert isinstance(make_display("jsonl", 3), JsonlDisplay)
