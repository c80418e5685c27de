"""A class graded several students at once, for real (sandboxes, training): parallel results
equal serial ones, hostile students change nothing for the others, a run killed with SIGKILL
resumes without regrading finished students, --force and --only, and the JSON progress events.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.inputs.data import load_dataset
from grader.errors import EXIT_ENVIRONMENT, EnvironmentProblem, InputError
from grader.run.evaluate import Options, evaluate
from grader.run.executors import gpu_oom
from grader.results import EvaluationResult
from grader.sandbox.bwrap import Sandbox
from grader.spec import load
from tests.factories.models import SIMPLENN
from tests.factories.models import simplenn as hostile   # SimpleNN running code at import/init/forward
from tests.factories.notebooks import write_notebook
from tests.factories.specs import simplenn_spec

pytestmark = [pytest.mark.sandbox, pytest.mark.train]

SPEC = simplenn_spec("""
[assignment]
course = "ECE 661"
title = "Homework 2 (class-scale test)"
required_files = ["*.py", "predictions.csv"]

[dataset]
synthetic_train = 1000
synthetic_test = 200

[training]
epochs = 1
batch_size = 50
lr = 0.05
schedule = "cosine"

[limits]
wall_seconds = 25
train_wall_seconds = 90
memory_mb = 1024
processes = 64

[predictions]
rows = 200

""")

# Honest hand-ins, as students hand them in: the template's class name, Colab lines, a model
# built in a later cell, `Id,Label` headers with CRLF, a zip beside a folder of the same name.
WIDER = SIMPLENN.replace("nn.Linear(16 * 6 * 6, 120)", "nn.Linear(16 * 6 * 6, 120)  # TODO 2")
DROPOUT = SIMPLENN.replace("x = F.relu(self.fc1(x))", "x = F.dropout(F.relu(self.fc1(x)), 0.1, "
                           "self.training)")
NOTEBOOK_CELLS = [
    "!pip install torchsummary\nfrom google.colab import drive\ndrive.mount('/content/drive')",
    SIMPLENN,
    "device = 'cuda' if torch.cuda.is_available() else 'cpu'\nnet = SimpleNN().to(device)\n"
    "for epoch in range(30):\n    pass  # training loop",
]


HOSTILE = {
    # a fork bomb of daemons in their own sessions (a process-group kill would miss them)
    "mallory": hostile(init="""
        import os
        for _ in range(300):
            try:
                os.posix_spawn("/bin/sleep", ["sleep", "3600"], {}, setsid=True)
            except OSError:
                pass
    """),
    "oscar": hostile(init="self.hog = bytearray(8 << 30)"),          # 8 GiB
    "trent": hostile(init="while True: pass"),                       # hangs
    "eve": hostile(body="""
        import os
        print('{"passed": true, "checks": []}')
        os._exit(0)
    """),                                                            # forged output, exit 0
    # passes the check (batches of 1, 2, 7), then kills everything it can while training
    "peggy": hostile(forward="""
        if x.shape[0] > 16:
            import os, signal
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            os.kill(os.getpid(), signal.SIGKILL)
    """),
    # fail training with torch's own out-of-memory exception, and with a look-alike of it:
    # only the first would buy a solo rerun on a GPU
    "wendy": hostile(forward="""
        if x.shape[0] > 16:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
    """),
    "victor": hostile(forward="""
        if x.shape[0] > 16:
            class OutOfMemoryError(RuntimeError):
                pass
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
    """),
}


def comparable(result: EvaluationResult) -> dict:
    """What a result says about the student, without when and how long it took."""
    data = dataclasses.asdict(result)
    data.pop("created")
    if data["check"]:
        data["check"]["sandbox"].update(seconds=0.0, output="")
        data["check"]["submission"] = Path(data["check"]["submission"]).name   # where it lay
    for t in data["training"] + data["reference"]:
        t.update(seconds=0.0, images_per_second=0.0)
    return data


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("parallel")
    (root / "hw2-test.toml").write_text(SPEC)
    assignment = load(str(root / "hw2-test.toml"))
    cache = root / "cache"
    labels = np.asarray(load_dataset(assignment.dataset, None, cache_dir=cache / "data")
                        .test_labels)
    right = "Id,Label\r\n" + "".join(f"{i},{v}\r\n" for i, v in enumerate(labels))
    half = "Id,Label\r\n" + "".join(f"{i},{v if i % 2 else (v + 3) % 10}\r\n"
                                    for i, v in enumerate(labels))
    honest = root / "honest"
    for name, files in {"alice": {"simplenn.py": SIMPLENN, "predictions.csv": right},
                        "carol": {"hw2_simplenn.py": DROPOUT, "predictions.csv": half}}.items():
        (honest / name).mkdir(parents=True)
        for rel, text in files.items():
            (honest / name / rel).write_text(text)
    write_notebook(honest / "bob" / "HW2_Lab1.ipynb", NOTEBOOK_CELLS, title="# HW2 Lab 1",
                   dedent=False)
    (honest / "bob" / "predictions.csv").write_text(half)
    with zipfile.ZipFile(honest / "carol.zip", "w") as zf:    # carol handed in twice
        zf.writestr("carol/hw2_simplenn.py", WIDER)
        zf.writestr("carol/predictions.csv", right)
    mixed = root / "mixed"
    shutil.copytree(honest, mixed)
    for name, source in HOSTILE.items():
        (mixed / name).mkdir()
        (mixed / name / "simplenn.py").write_text(source)
        (mixed / name / "predictions.csv").write_text(right)
    return dict(root=root, assignment=assignment, cache=cache, honest=honest, mixed=mixed)


@pytest.fixture
def sandbox_runs(monkeypatch):
    """Counts sandboxed processes started in this process (one slot runs here)."""
    runs: list[str] = []
    real = Sandbox.start

    def counting(self, module, job, **kwargs):
        runs.append(module)
        return real(self, module, job, **kwargs)

    monkeypatch.setattr(Sandbox, "start", counting)
    return runs


@pytest.fixture(scope="module")
def serial(world):
    """The honest students alone, one at a time (one thread each)."""
    out = world["root"] / "serial"
    results = evaluate(world["honest"], world["assignment"], out,
                       Options(cache_dir=world["cache"], jobs=1, threads=1))
    return {r.student: r for r in results}, out


@pytest.fixture(scope="module")
def parallel(world):
    """Honest and hostile students mixed, two at a time on two cores (one thread each)."""
    events = []
    out = world["root"] / "parallel"
    started = time.monotonic()
    results = evaluate(world["mixed"], world["assignment"], out,
                       Options(cache_dir=world["cache"], jobs=2, threads=2),
                       on_event=events.append)
    return {r.student: r for r in results}, events, time.monotonic() - started


def test_serial_class_grades_every_hand_in_including_a_zip_beside_its_folder(serial):
    by_name, out = serial
    assert sorted(by_name) == ["alice", "bob", "carol", "carol.zip"]
    assert sorted(p.name for p in out.glob("*.json")) == [
        "alice.json", "bob.json", "carol.json", "carol.zip.json"]
    assert by_name["alice"].status == "ok" and by_name["alice"].predictions.accuracy == 1.0
    assert by_name["carol"].predictions.accuracy != by_name["carol.zip"].predictions.accuracy
    assert all(r.training and r.training[0].ok for r in by_name.values()), \
        {n: r.training for n, r in by_name.items()}


def test_parallel_with_hostile_students_gives_honest_ones_their_serial_results(serial, parallel):
    alone, _ = serial
    mixed, _, _ = parallel
    for name, result in alone.items():
        assert comparable(mixed[name]) == comparable(result), name


def test_hostile_students_get_zero_with_the_reason(parallel):
    mixed, _, _ = parallel
    assert mixed["mallory"].check.sandbox.status == "processes"
    assert mixed["oscar"].check.sandbox.status == "memory"
    assert mixed["trent"].check.sandbox.status == "timeout"
    eve = mixed["eve"]                             # its forged "passed" output is only text
    assert not eve.check.passed and not next(c for c in eve.check.checks
                                             if c.id == "simplenn.builds").passed
    peggy = mixed["peggy"]
    assert peggy.check.sandbox.status == "ok" and not peggy.training[0].ok
    assert "killed by signal 9" in peggy.training[0].error
    wendy, victor = mixed["wendy"].training[0], mixed["victor"].training[0]
    assert wendy.error.startswith("training failed: OutOfMemoryError: CUDA out of memory")
    assert victor.error.startswith("training failed: OutOfMemoryError: CUDA out of memory")
    assert wendy.gpu_error == "out_of_memory" and gpu_oom(mixed["wendy"])
    assert victor.gpu_error == "" and not gpu_oom(mixed["victor"])
    for name in HOSTILE:
        assert mixed[name].status == "failed", name
        assert {i.id: i.earned for i in mixed[name].rubric}["accuracy"] == 0, name


def test_events_say_who_started_and_how_each_ended(parallel):
    mixed, events, _ = parallel
    for name, result in mixed.items():
        mine = [e for e in events if e.student == name]
        assert [e.kind for e in mine] == ["started", "finished" if result.status == "ok"
                                          else "failed"], name
        assert mine[1].points == result.total and mine[1].status == result.status
        assert mine[1].slot == mine[0].slot in (0, 1)
    assert "process limit of 64 reached" in next(e.reason for e in events
                                                  if e.student == "mallory" and e.reason)
    # two at a time: some student started before another one finished
    first_end = min(e.time for e in events if e.kind != "started")
    assert sum(e.time <= first_end for e in events if e.kind == "started") == 2


def test_a_run_killed_mid_class_resumes_without_regrading_finished_students(
        world, serial, sandbox_runs, tmp_path):
    out = tmp_path / "grades"
    env = dict(os.environ, GRADER_CACHE=str(world["cache"]))
    cmd = [sys.executable, "-m", "grader", "evaluate", str(world["honest"]), "-a",
           str(world["root"] / "hw2-test.toml"), "--out", str(out), "--jobs", "1",
           "--progress", "jsonl"]
    # one core: the same single thread per sandbox as the serial run
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True, preexec_fn=lambda: os.sched_setaffinity(
                                0, {sorted(os.sched_getaffinity(0))[0]}))
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if event["kind"] != "started":
                break
        os.killpg(proc.pid, signal.SIGKILL)              # the machine goes away
    finally:
        proc.wait(timeout=60)
    done = {p.stem: p.read_bytes() for p in out.glob("*.json")}
    assert 1 <= len(done) < 4, sorted(done)
    results = evaluate(world["honest"], world["assignment"], out,
                       Options(cache_dir=world["cache"], jobs=1, threads=1))
    # one process per remaining student, probing then training its models; nothing for the
    # finished ones or the reference
    assert sandbox_runs == ["inspect_models"] * (4 - len(done))
    assert {name: (out / f"{name}.json").read_bytes() for name in done} == done
    alone, _ = serial
    assert {r.student: comparable(r) for r in results} == {
        n: comparable(r) for n, r in alone.items()}


class Recorder:
    """An executor that records which jobs it was given and grades none."""

    def __init__(self) -> None:
        self.students: list[str] = []

    def run(self, jobs, on_event) -> None:
        self.students += [j.student for j in jobs]


def test_force_only_and_changed_hand_ins_pick_the_students_to_grade(world, serial, tmp_path):
    _, out = serial
    klass = tmp_path / "class"
    shutil.copytree(world["honest"], klass)
    shutil.copytree(out, tmp_path / "grades")

    def run(**options):
        recorder, events = Recorder(), []
        evaluate(klass, world["assignment"], tmp_path / "grades",
                 Options(**{"cache_dir": world["cache"], "jobs": 1, "threads": 1, **options}),
                 on_event=events.append, executor=recorder)
        return recorder.students, events

    students, events = run()
    assert students == [] and all(e.cached for e in events) and len(events) == 4
    assert run(force=True)[0] == ["alice", "bob", "carol", "carol.zip"]
    assert run(only=("bob", "carol.zip"))[0] == ["bob", "carol.zip"]
    with pytest.raises(InputError, match="--only names no submission: dave"):
        run(only=("dave",))
    (klass / "alice" / "simplenn.py").write_text(SIMPLENN + "\n# late fix\n")
    assert run()[0] == ["alice"]                       # a changed hand-in is regraded
    assert run(threads=2)[0] == ["alice", "bob", "carol", "carol.zip"]   # training changed


def test_cli_jsonl_progress_on_a_graded_class(world, serial, tmp_path, monkeypatch):
    _, out = serial
    monkeypatch.setattr("grader.run.evaluate.usable_cores", lambda: 1)   # as the serial run
    shutil.copytree(out, tmp_path / "grades")
    result = CliRunner().invoke(main, [
        "evaluate", str(world["honest"]), "-a", str(world["root"] / "hw2-test.toml"),
        "--out", str(tmp_path / "grades"), "--jobs", "1", "--progress", "jsonl"],
        env={"GRADER_CACHE": str(world["cache"])})
    events = [json.loads(line) for line in result.stdout.splitlines()]
    by_name, _ = serial
    assert [(e["kind"], e["student"], e["status"], e["points"], e["cached"]) for e in events] == [
        ("finished" if r.status == "ok" else "failed", n, r.status, r.total, True)
        for n, r in by_name.items()]
    assert "alice" in result.stderr                    # the table goes to stderr with jsonl


def _cuda_here() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda_here(), reason="needs a machine where CUDA cannot start in the sandbox")
def test_gpu_run_stops_before_grading_anyone_when_cuda_cannot_start_in_the_sandbox(
        world, tmp_path, monkeypatch):
    # CUDA "works" on the grader's side (as on the GPU machine where the sandbox got error 304);
    # the probe in a real GPU sandbox then fails here for want of a driver
    monkeypatch.setattr("grader.run.evaluate._require_cuda", lambda: ["GPU-0c2b-fake"])
    with pytest.raises(EnvironmentProblem, match="not inside the grader's sandbox") as raised:
        evaluate(world["honest"], world["assignment"], tmp_path / "out",
                 Options(cache_dir=world["cache"], gpu=True))
    # a CUDA build of torch finds no driver; a CPU-only build has no CUDA at all
    assert any(why in str(raised.value) for why in ("Found no NVIDIA driver",
                                                     "not compiled with CUDA enabled"))
    assert raised.value.exit_code == EXIT_ENVIRONMENT
    assert not list(tmp_path.glob("out/*.json"))        # nobody was given a result
