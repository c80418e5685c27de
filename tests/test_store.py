"""The unit of work and the result store: names, content keys, atomic resume, slots, GPU
placement and fault bookkeeping. No sandbox runs here (see test_parallel.py for those)."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader import results as results_mod
from grader.run.executors import (Event, LocalExecutor, Ran, Slot, fault_neighbours, gpu_fault,
                              gpu_oom, parse_gpu_list, plan_slots)
from grader.inputs.handins import student_names
from grader.run.jobs import GradeJob, Settings, content_hash, crashed, job_key, make_jobs
from grader.sandbox.limits import Limits
from grader.inputs.prepared import PreparedData, array_digest, prepare
from grader.grading.retrain import score_weights
from grader.grading.weights import with_runs
from grader.results import (CheckReport, EvaluationResult, ModelReport, SandboxReport,
                            TrainingResult, WeightsReport)
from grader.sandbox.bwrap import RunOutcome
from grader.sandbox.reports import parse_training
from grader.spec import WeightsSpec
from grader.spec import load
from grader.run.store import ResultStore
from tests.factories.models import SIMPLENN_STUB

LIMITS = Limits(wall_seconds=10, memory_mb=1024, processes=64, file_size_mb=64, cpu_seconds=60)


def settings(tmp_path: Path, **changes) -> Settings:
    base = Settings(prepared=tmp_path / "prepared", data_key="d" * 64,
                    dataset_source="synthetic (seed 0)",
                    config=(("epochs", 2), ("lr", 0.05), ("seed", 0)), check_limits=LIMITS,
                    train_limits=LIMITS, reference=(TrainingResult(model="simplenn", ok=True),),
                    threads=1)
    return dataclasses.replace(base, **changes)


@pytest.fixture
def hw2():
    return load("ece661-hw2")


def colab_student(root: Path, name: str, extra: str = "") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "hw2.py").write_text("# !pip install torchsummary\n" + SIMPLENN_STUB + extra)
    (folder / "predictions.csv").write_bytes(b"Id,Label\r\n0,3\r\n1,8\r\n")
    return folder


# names -----------------------------------------------------------------------------------------

def test_a_folder_and_a_zip_of_the_same_name_get_two_results(tmp_path):
    folder = colab_student(tmp_path, "alice")
    archive = tmp_path / "alice.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(folder / "hw2.py", "alice/hw2.py")
    bob = tmp_path / "bob.zip"
    bob.write_bytes(archive.read_bytes())
    names = student_names([folder, archive, bob])
    assert names == {folder: "alice", archive: "alice.zip", bob: "bob"}
    assert len(set(names.values())) == 3


# content keys ----------------------------------------------------------------------------------

def test_content_hash_covers_every_byte_not_the_first_megabyte(tmp_path):
    folder = colab_student(tmp_path, "alice")
    size = 3 << 20
    (folder / "weights.bin").write_bytes(b"\0" * size)
    before = content_hash(folder)
    last_byte = bytearray(size)
    last_byte[-1] = 1                            # the same size; only a byte past 2 MiB differs
    (folder / "weights.bin").write_bytes(bytes(last_byte))
    assert (folder / "weights.bin").stat().st_size == size
    changed = content_hash(folder)
    assert changed != before
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "hw2.cpython-312.pyc").write_bytes(b"cache")
    assert content_hash(folder) == changed       # caches are not the student's work
    (folder / "hw2.py").rename(folder / "model.py")
    assert content_hash(folder) != changed       # a renamed file is a different hand-in


def test_the_key_changes_with_everything_that_decides_the_result_and_nothing_else(tmp_path,
                                                                                    hw2):
    folder = colab_student(tmp_path, "alice")
    s = settings(tmp_path)
    key = job_key(folder, hw2, s)
    assert key == job_key(folder, hw2, s)
    changed = {
        "data": dataclasses.replace(s, data_key="e" * 64),
        "training": dataclasses.replace(s, config=(("epochs", 3), ("lr", 0.05), ("seed", 0))),
        "limits": dataclasses.replace(s, train_limits=dataclasses.replace(LIMITS,
                                                                          wall_seconds=11)),
        "gpu": dataclasses.replace(s, gpu=True),
        "threads": dataclasses.replace(s, threads=2),
        "reference": dataclasses.replace(s, reference=(TrainingResult(model="simplenn",
                                                                      ok=False),)),
        "sandbox": dataclasses.replace(s, sandboxed=False),
    }
    for what, other in changed.items():
        assert job_key(folder, hw2, other) != key, what
    spec = dataclasses.replace(hw2, title=hw2.title + " (v2)")
    assert job_key(folder, spec, s) != key
    # where it runs does not decide the result
    assert job_key(folder, hw2, dataclasses.replace(s, gpu_id="GPU-1234", mps=True)) == key
    (folder / "hw2.py").write_text((folder / "hw2.py").read_text() + "# v2\n")
    assert job_key(folder, hw2, s) != key


SAVE_TEST_PREDICTIONS = [     # the course's notebook as it hands it out: an unfinished function
    ("md", "# Save your test predictions\nRun this after training; upload `predictions.csv`."),
    "from google.colab import drive\ndrive.mount('/content/drive')\n",
    ("import torch\n\ndef save_test_predictions(model, test_loader, path='predictions.csv'):\n"
     "    model.eval()\n    with open(path, 'w') as f:\n        f.write('Id,Label\\n')\n"
     "        for inputs, ids in test_loader:\n            # TODO: write one line per image\n"),
]


def course_spec(folder: Path, starter: str | None) -> Path:
    """ece661-hw2's spec in a course folder of its own, with `[assignment] starter` when
    given, and the course's save_test_predictions.ipynb in hw2-template/ beside it."""
    from tests.factories.notebooks import write_notebook

    write_notebook(folder / "hw2-template" / "save_test_predictions.ipynb",
                   SAVE_TEST_PREDICTIONS, title=None)
    (folder / "hw2-template" / "README.md").write_text("Finish save_test_predictions.\n")
    text = (Path(__file__).parents[1] / "grader" / "spec" / "assignments"
            / "ece661-hw2.toml").read_text(encoding="utf-8")
    if starter is not None:
        text = text.replace("[assignment]\n", f'[assignment]\nstarter = ["{starter}"]\n', 1)
    (folder / "ece661-hw2.toml").write_text(text, encoding="utf-8")
    return folder / "ece661-hw2.toml"


@pytest.mark.parametrize("starter", ["hw2-template/", "hw2-template/save_test_predictions.ipynb"],
                         ids=["folder", "file"])
def test_the_starter_code_is_in_the_key_by_its_content_not_where_it_is(tmp_path, hw2, starter):
    """The starter decides which unparsable cells are the template's (files.syntax), so
    editing it regrades; moving the course folder, or editing a file the grader never reads
    there, does not. A spec without starter code keeps the key it had."""
    folder, s = colab_student(tmp_path, "alice"), settings(tmp_path)
    spec_file = course_spec(tmp_path / "course", starter)
    spec = load(str(spec_file))
    assert spec.integrity.starter            # absolute paths: left out of the key as such
    key = job_key(folder, spec, s)
    assert key != job_key(folder, hw2, s)
    # the same spec without starter code has exactly the built-in spec's key
    plain = load(str(course_spec(tmp_path / "plain", None)))
    assert job_key(folder, plain, s) == job_key(folder, hw2, s)
    # the whole course folder moved: the same starter, the same key
    moved = tmp_path / "elsewhere" / "ece661"
    moved.parent.mkdir()
    (tmp_path / "course").rename(moved)
    moved_spec = load(str(moved / "ece661-hw2.toml"))
    assert moved_spec.integrity.starter != spec.integrity.starter
    assert job_key(folder, moved_spec, s) == key
    (moved / "hw2-template" / "README.md").write_text("Finish it by Friday.\n")
    assert job_key(folder, moved_spec, s) == key        # not code: never read as starter
    # the course edits its notebook (the TODO is finished): another key
    from tests.factories.notebooks import write_notebook

    write_notebook(moved / "hw2-template" / "save_test_predictions.ipynb",
                   SAVE_TEST_PREDICTIONS[:-1] + [SAVE_TEST_PREDICTIONS[-1].replace(
                       "# TODO: write one line per image", "pass")], title=None)
    assert job_key(folder, moved_spec, s) != key


def test_a_job_is_small_and_pickles(tmp_path, hw2):
    folder = colab_student(tmp_path, "alice")
    (job,) = make_jobs([folder], hw2, settings(tmp_path))
    again = pickle.loads(pickle.dumps(job))
    assert again == job and len(pickle.dumps(job)) < 20_000


# the store ---------------------------------------------------------------------------------------

def test_store_returns_a_result_only_for_the_same_key_and_writes_atomically(tmp_path, hw2):
    folder = colab_student(tmp_path, "alice")
    (job,) = make_jobs([folder], hw2, settings(tmp_path))
    store = ResultStore(tmp_path / "grades")
    assert store.get(job) is None
    result = crashed(job, "the zip is unreadable")
    path = store.put(job, result)
    assert path == tmp_path / "grades" / "alice.json"
    assert store.get(job) == result
    assert results_mod.load(path) == result       # still the file `grader report` reads
    assert json.loads(path.read_text())["key"] == job.key
    assert not list(path.parent.glob(".*.tmp"))
    other = dataclasses.replace(job, key="0" * 64)
    assert store.get(other) is None
    path.write_text('{"schema": 1, "student": "ali')   # a half-written file from another tool
    assert store.get(job) is None


def test_stored_records_keep_their_json_keys_and_older_files_are_read(tmp_path, hw2):
    """The store's on-disk format: the result's fields plus "key", and "slurm_array" in what an
    array task wrote; a file written by the previous version reads the same."""
    from grader.run.store import ArrayTaskStore, Stored

    folder = colab_student(tmp_path, "alice")
    (job,) = make_jobs([folder], hw2, settings(tmp_path))
    result = crashed(job, "graded by a task")
    grades = tmp_path / "grades"
    grades.mkdir()
    as_written = {**results_mod.to_dict(result), "key": job.key, "slurm_array": "12"}
    (grades / "alice.json").write_text(json.dumps(as_written, indent=2))
    store = ResultStore(grades)
    assert store.get(job) == result
    assert store.read("alice") == Stored(key=job.key, array="12", result=result)
    assert store.written_by(job, "12") and not store.written_by(job, "13")
    assert store.read("bob") == Stored(key=None, array=None, result=None)
    ArrayTaskStore(grades, array="12").put(job, result)
    assert json.loads((grades / "alice.json").read_text()) == as_written
    store.put(job, result)
    assert "slurm_array" not in json.loads((grades / "alice.json").read_text())
    closed = ArrayTaskStore(grades, array="14")
    closed.closed = True                        # Slurm is killing the task: nothing is stored
    closed.put(job, crashed(job, "SIGTERM"))
    assert store.read("alice").array is None and store.get(job) == result


def test_prepared_data_is_keyed_by_full_contents_and_hides_held_out_labels(tmp_path):
    @dataclasses.dataclass
    class Data:
        train_images: np.ndarray
        train_labels: np.ndarray
        test_images: np.ndarray
        test_labels: np.ndarray
        class_names: tuple
        source: str = "synthetic (seed 0)"

    rng = np.random.default_rng(0)
    data = Data(rng.integers(0, 255, (600, 32, 32, 3), dtype=np.uint8),
                rng.integers(0, 10, 600), rng.integers(0, 255, (50, 32, 32, 3), dtype=np.uint8),
                rng.integers(0, 10, 50), tuple("abcdefghij"))
    first = prepare(data, data.test_labels, tmp_path)
    assert prepare(data, data.test_labels, tmp_path) == first     # reused, not rewritten
    assert set(first.files) == {"train_images", "train_labels", "test_images"}
    assert np.array_equal(PreparedData.open(first.folder).held_out, data.test_labels)
    images = data.train_images.copy()
    images[-1, -1, -1, -1] ^= 1                    # one bit, 1.8 MB into the array
    changed = prepare(dataclasses.replace(data, train_images=images), data.test_labels, tmp_path)
    assert changed.fingerprint != first.fingerprint and changed.folder != first.folder
    assert array_digest({"a": np.zeros(3)}) != array_digest({"a": np.zeros(3, np.float32)})


# slots -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("jobs, cores, gpus, per_gpu, expected", [
    (2, 2, [], 1, [Slot(0, 1), Slot(1, 1)]),              # two at once on 2 cores: 1 thread each
    (1, 2, [], 1, [Slot(0, 2)]),                          # alone: every core
    (3, 16, [], 1, [Slot(i, 5) for i in range(3)]),       # 16 // 3
    (8, 2, [], 1, [Slot(i, 1) for i in range(8)]),        # never below one thread
    (None, 4, ["GPU-a", "GPU-b"], 2,                      # K=2 per GPU, spread over GPUs
     [Slot(0, 1, "GPU-a"), Slot(1, 1, "GPU-b"), Slot(2, 1, "GPU-a"), Slot(3, 1, "GPU-b")]),
    (3, 12, ["GPU-a", "GPU-b"], 4,                        # --jobs caps the total
     [Slot(0, 4, "GPU-a"), Slot(1, 4, "GPU-b"), Slot(2, 4, "GPU-a")]),
], ids=["2-on-2-cores", "serial", "uneven", "more-slots-than-cores", "2-gpus-k2", "jobs-cap"])
def test_cores_and_gpus_are_divided_among_slots(jobs, cores, gpus, per_gpu, expected):
    assert plan_slots(jobs, cores=cores, gpus=gpus, per_gpu=per_gpu) == expected


def test_default_slots_one_per_core_within_memory():
    assert len(plan_slots(None, cores=8)) == 8
    assert len(plan_slots(None, cores=8, memory_mb=4096, total_memory_mb=24 * 1024)) == 6
    assert plan_slots(None, cores=8, memory_mb=4096, total_memory_mb=2048) == [Slot(0, 8)]


NVIDIA_SMI_L = """GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1b2c3d4e-0000-1111-2222-333344445555)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff)
  MIG 1g.10gb     Device  0: (UUID: MIG-0a0b0c0d)
"""


@pytest.mark.parametrize("visible, expected", [
    (None, ["GPU-1b2c3d4e-0000-1111-2222-333344445555", "GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff"]),
    ("1", ["GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff"]),
    ("GPU-9f8e7d6c", ["GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff"]),   # a UUID prefix
    ("", []),
], ids=["all", "index", "uuid-prefix", "none"])
def test_gpus_are_named_by_uuid_respecting_cuda_visible_devices(visible, expected):
    assert parse_gpu_list(NVIDIA_SMI_L, visible) == expected


# as the lent H200 listed itself, and a node of a cluster with GPUs of two kinds
H200_SMI_L = "GPU 0: NVIDIA H200 (UUID: GPU-75cf1a59-a80c-d5e9-21de-f89fbeb93134)\n"
MIXED_SMI_L = ("GPU 0: Tesla V100-SXM2-32GB (UUID: GPU-0000aaaa-1111-2222-3333-444455556666)\n"
               "GPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-bbbb0000-1111-2222-3333-444455556666)\n")


def test_a_gpu_result_names_the_gpu_it_was_graded_on(tmp_path, hw2, monkeypatch):
    from grader.run import gpus

    assert gpus.gpu_names(H200_SMI_L) == {
        "GPU-75cf1a59-a80c-d5e9-21de-f89fbeb93134": "NVIDIA H200"}
    monkeypatch.setattr(gpus, "_nvidia_smi_l", lambda: MIXED_SMI_L)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    (job,) = make_jobs([colab_student(tmp_path, "alice")], hw2,
                       settings(tmp_path, gpu=True, gpu_id=None))
    a100 = dataclasses.replace(job, settings=dataclasses.replace(
        job.settings, gpu_id="GPU-bbbb0000-1111-2222-3333-444455556666"))
    assert crashed(a100, "x").device == "cuda (NVIDIA A100-SXM4-80GB)"   # the slot's GPU
    assert crashed(job, "x").device == "cuda (Tesla V100-SXM2-32GB)"     # the first visible
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert crashed(job, "x").device == "cuda (NVIDIA A100-SXM4-80GB)"
    assert job_key(job.submission, hw2, job.settings) == job_key(       # which GPU ran it
        a100.submission, hw2, a100.settings)                              # decides nothing
    monkeypatch.setattr(gpus, "_nvidia_smi_l", lambda: None)             # no nvidia-smi
    assert crashed(a100, "x").device == "cuda"
    assert crashed(dataclasses.replace(job, settings=dataclasses.replace(
        job.settings, gpu=False)), "x").device == "cpu"


# GPU faults ------------------------------------------------------------------------------------

def test_a_fault_under_mps_reaches_only_who_shared_its_gpu_at_the_time():
    runs = [Ran("hostile", "GPU-a", 10, 20), Ran("overlap", "GPU-a", 15, 30),
            Ran("before", "GPU-a", 0, 10), Ran("other-gpu", "GPU-b", 10, 20),
            Ran("after", "GPU-a", 20.5, 40)]
    assert fault_neighbours(runs, {"hostile"}) == {"hostile", "overlap"}
    assert fault_neighbours(runs, set()) == set()


def test_gpu_oom_and_fatal_faults_are_recognised(tmp_path, hw2):
    folder = colab_student(tmp_path, "alice")
    (job,) = make_jobs([folder], hw2, settings(tmp_path, gpu=True))
    oom = dataclasses.replace(crashed(job, "x"), status="failed", error=None, training=[
        TrainingResult(model="simplenn", ok=False, error="training failed: OutOfMemoryError: "
                       "CUDA out of memory. Tried to allocate 2.00 GiB",
                       gpu_error="out_of_memory")])
    fault = dataclasses.replace(oom, training=[TrainingResult(
        model="simplenn", ok=False, error="training failed: AcceleratorError: CUDA error: an "
        "illegal memory access was encountered", gpu_error="fault")])
    assert gpu_oom(oom) and not gpu_fault(oom)
    assert gpu_fault(fault) and not gpu_oom(fault)
    assert not gpu_fault(crashed(job, "wall-clock limit of 10 s exceeded"))


def test_the_training_harness_classifies_gpu_errors_by_torchs_classes(monkeypatch):
    import torch

    import grader
    from grader.results import GPU_ERRORS

    monkeypatch.syspath_prepend(str(Path(grader.__file__).parent / "sandbox"))  # as in the sandbox
    from harness import train_models

    assert {kind for kind, _ in train_models.GPU_ERRORS} <= GPU_ERRORS
    assert train_models.gpu_error(torch.cuda.OutOfMemoryError("CUDA out of memory")) \
        == "out_of_memory"

    class OutOfMemoryError(RuntimeError):       # a student's own, of torch's name
        pass

    assert train_models.gpu_error(OutOfMemoryError("CUDA out of memory")) == ""
    assert train_models.gpu_error(RuntimeError("CUDA error: an illegal memory access")) == ""


def weights_failed(job: GradeJob, error: dict) -> EvaluationResult:
    """The job's result when the student's own checkpoint failed on the held-out images with
    the harness's error entry (train_models.predict_weights), carried as grade carries it:
    parsed, scored, and into the check report's weights."""
    reports = parse_training({"models": [{"key": "weights:simplenn", "ok": False,
                                          "stage": "predict", "error": error, "seconds": 3.2}]})
    outcome = RunOutcome(status="ok", reason="", exit_code=0, seconds=4.0, output="",
                         result=None, out_dir=job.settings.cache_dir or Path("."))
    run = score_weights("simplenn", reports["weights:simplenn"], outcome,
                        np.zeros(10, dtype=np.int64), 10)
    check = CheckReport(submission=str(job.submission), assignment=job.assignment.id,
                        passed=True, checks=[], predictions=None, sandbox=SandboxReport(),
                        models=[ModelReport(key="simplenn", title="SimpleNN", found=True,
                                            weights=WeightsReport(file="simplenn_best.pt",
                                                                  loaded=True,
                                                                  format="state_dict"))])
    check = with_runs(check, {"simplenn": run}, None, 10, WeightsSpec())
    return dataclasses.replace(crashed(job, "x"), status="failed", error=None, check=check)


WEIGHTS_OOM = {"type": "OutOfMemoryError", "gpu": "out_of_memory",
               "message": "CUDA out of memory. Tried to allocate 2.00 GiB",
               "qualname": "torch.OutOfMemoryError"}
WEIGHTS_FAULT = {"type": "AcceleratorError", "gpu": "fault",
                 "message": "CUDA error: an illegal memory access was encountered",
                 "qualname": "torch.AcceleratorError"}


def test_a_failed_weights_run_on_the_gpu_is_recognised_like_training(tmp_path, hw2):
    folder = colab_student(tmp_path, "alice")
    (job,) = make_jobs([folder], hw2, settings(tmp_path, gpu=True))
    oom, fault = weights_failed(job, WEIGHTS_OOM), weights_failed(job, WEIGHTS_FAULT)
    weights = oom.check.models[0].weights
    assert weights.gpu_error == "out_of_memory" and not oom.training
    assert weights.error.startswith("its held-out predictions failed: predicting failed: "
                                    "OutOfMemoryError: CUDA out of memory")
    assert gpu_oom(oom) and not gpu_fault(oom)
    assert gpu_fault(fault) and not gpu_oom(fault)
    # a student's own exception of torch's name: the harness did not classify it
    own = weights_failed(job, {**WEIGHTS_OOM, "gpu": "", "qualname": "__main__.OutOfMemoryError"})
    assert own.check.models[0].weights.gpu_error == ""
    assert not gpu_oom(own) and not gpu_fault(own)
    # an old result file (no gpu_error) still loads, and decides nothing
    raw = results_mod.to_dict(oom)
    del raw["check"]["models"][0]["weights"]["gpu_error"]
    old = results_mod.from_dict(EvaluationResult, raw)
    assert old.check.models[0].weights.gpu_error == "" and not gpu_oom(old)


@pytest.mark.parametrize("error, output", [
    # a student's own exception class of torch's name: the harness did not classify it
    ("training failed: OutOfMemoryError: CUDA out of memory. Tried to allocate 8.00 GiB", ""),
    ("training failed: AcceleratorError: CUDA error: an illegal memory access", ""),
    ("training failed: RuntimeError: CUDA out of memory. OutOfMemoryError", ""),
    ("training failed: ValueError: CUDA error: an illegal memory access; MPS", ""),
    ("training failed: ValueError: no MPS here", ""),
    ("training diverged: OutOfMemoryError: illegal memory access", ""),
    ("training failed: ValueError: bad shape",
     "RuntimeError: CUDA out of memory\nCUDA error: an illegal memory access\ncudaErrorMps"),
], ids=["oom-by-name", "fault-by-name", "oom-in-message", "fault-in-message", "bare-mps",
        "not-a-harness-type", "printed"])
def test_text_student_code_writes_never_counts_as_a_gpu_fault(tmp_path, hw2, error, output):
    folder = colab_student(tmp_path, "alice")
    (job,) = make_jobs([folder], hw2, settings(tmp_path, gpu=True))
    base = crashed(job, "x")
    check = CheckReport(submission=str(folder), assignment="hw2", passed=True, models=[],
                        checks=[], predictions=None, sandbox=SandboxReport(output=output))
    result = dataclasses.replace(base, status="failed", error=None, check=check, training=[
        TrainingResult(model="simplenn", ok=False, error=error)])
    assert not gpu_oom(result) and not gpu_fault(result)


# the executor, with a stand-in for grade (no sandbox) -----------------------------------------

def fake_grade(job: GradeJob):
    """grade's stand-in: records where it ran in `device`; "big" runs out of GPU memory the
    first time (a marker file, since it runs in a worker process)."""
    result = crashed(job, "stand-in")
    placed = f"threads={job.settings.threads} gpu={job.settings.gpu_id}"
    marker = job.settings.cache_dir / f"{job.student}.ran"
    first = not marker.exists()
    marker.write_text("")
    if job.student == "big" and first:
        return dataclasses.replace(result, status="failed", device=placed, training=[
            TrainingResult(model="simplenn", ok=False, error="training failed: "
                           "OutOfMemoryError: CUDA out of memory. Tried to allocate 8.00 GiB",
                           gpu_error="out_of_memory")])
    return dataclasses.replace(result, status="ok", error=None, total=7.0, device=placed)


def fake_grade_weights_oom(job: GradeJob):
    """fake_grade, but "big"'s own checkpoint runs out of GPU memory on the held-out images."""
    marker = job.settings.cache_dir / f"{job.student}.ran"
    if job.student == "big" and not marker.exists():
        marker.write_text("")
        return dataclasses.replace(weights_failed(job, WEIGHTS_OOM),
                                   device=f"threads={job.settings.threads} "
                                          f"gpu={job.settings.gpu_id}")
    return fake_grade(job)


@pytest.mark.sandbox
@pytest.mark.parametrize("grade_fn", [fake_grade, fake_grade_weights_oom],
                         ids=["training", "weights"])
def test_parallel_slots_get_their_threads_and_gpu_and_oom_is_retried_alone(tmp_path, hw2,
                                                                             grade_fn):
    folders = [colab_student(tmp_path, n) for n in ("big", "small", "tiny")]
    jobs = make_jobs(folders, hw2, settings(tmp_path, gpu=True, cache_dir=tmp_path))
    store, events = ResultStore(tmp_path / "grades"), []
    slots = [Slot(0, 3, "GPU-a"), Slot(1, 3, "GPU-b")]
    LocalExecutor(store, slots, grade_fn=grade_fn).run(jobs, events.append)
    results = {j.student: store.get(j) for j in jobs}
    assert all(r.status == "ok" for r in results.values())      # big's retry succeeded
    assert {r.device for r in results.values()} == {"threads=3 gpu=GPU-a", "threads=3 gpu=GPU-b"}
    big = [e.kind for e in events if e.student == "big"]
    assert big == ["started", "started", "finished"]            # the OOM was not reported
    retry = [e for e in events if e.student == "big"][1]
    assert retry.time >= max(e.time for e in events if e.student != "big")   # alone: last


def test_one_slot_runs_here_with_its_threads_and_events_come_in_order(tmp_path, hw2):
    folders = [colab_student(tmp_path, n) for n in ("ann", "ben")]
    jobs = make_jobs(folders, hw2, settings(tmp_path, cache_dir=tmp_path))
    events: list[Event] = []
    store = ResultStore(tmp_path / "g")
    LocalExecutor(store, [Slot(0, 2)], grade_fn=fake_grade).run(jobs, events.append)
    assert [store.get(j).device for j in jobs] == ["threads=2 gpu=None"] * 2
    assert [(e.kind, e.student) for e in events] == [("started", "ann"), ("finished", "ann"),
                                                     ("started", "ben"), ("finished", "ben")]
    assert events[1].points == 7.0 and events[1].status == "ok"


def faults_under_mps(job: GradeJob):
    """fake_grade, but "faulty"'s own checkpoint hits a CUDA fault on the held-out images while
    it runs under MPS; every run is logged with its MPS setting."""
    with open(job.settings.cache_dir / f"{job.student}.runs", "a") as runs:
        runs.write(f"mps={job.settings.mps}\n")
    if job.student == "faulty" and job.settings.mps:
        return weights_failed(job, WEIGHTS_FAULT)
    return fake_grade(job)


def test_a_weights_run_s_gpu_fault_under_mps_is_regraded_without_mps(tmp_path, hw2):
    folders = [colab_student(tmp_path / "class", n) for n in ("ann", "faulty")]
    (tmp_path / "run").mkdir()
    jobs = make_jobs(folders, hw2, settings(tmp_path, gpu=True, mps=True,
                                            cache_dir=tmp_path / "run"))
    store, events = ResultStore(tmp_path / "grades"), []
    LocalExecutor(store, [Slot(0, 2, "GPU-a")], mps=True,
                  grade_fn=faults_under_mps).run(jobs, events.append)
    assert (tmp_path / "run" / "faulty.runs").read_text() == "mps=True\nmps=False\n"
    assert (tmp_path / "run" / "ann.runs").read_text() == "mps=True\n"   # ran before it
    assert store.get(jobs[1]).status == "ok" and store.get(jobs[1]).total == 7.0
    assert [e.kind for e in events if e.student == "faulty"] == [
        "started", "failed", "started", "finished"]


def dies_or_grades(job: GradeJob):
    """grade's stand-in whose "dies" student kills its worker process."""
    if job.student == "dies":
        os._exit(1)
    return fake_grade(job)


@pytest.mark.sandbox
def test_a_worker_process_that_dies_costs_only_its_own_student(tmp_path, hw2):
    folders = [colab_student(tmp_path, n) for n in ("ann", "dies", "ben", "cal")]
    jobs = make_jobs(folders, hw2, settings(tmp_path, cache_dir=tmp_path))
    store, events = ResultStore(tmp_path / "grades"), []
    LocalExecutor(store, [Slot(0, 1), Slot(1, 1)], grade_fn=dies_or_grades).run(jobs,
                                                                                events.append)
    results = {j.student: store.get(j) for j in jobs}
    assert results["dies"].status == "crashed" and "worker process died" in results["dies"].error
    assert all(results[n].status == "ok" for n in ("ann", "ben", "cal"))
    assert [e.kind for e in events if e.kind != "started"].count("failed") == 1


def kills_its_worker_beside_a_neighbour(job: GradeJob):
    """grade's stand-in: "mallory" kills its worker process each time it runs, the first time
    only once "ann" is running in the other worker; the others take half a second."""
    folder = job.settings.cache_dir
    with open(folder / f"{job.student}.runs", "a") as runs:
        runs.write("ran\n")
    if job.student == "mallory":
        deadline = time.monotonic() + 60
        while not (folder / "ann.runs").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os._exit(1)
    time.sleep(0.5)
    return fake_grade(job)


@pytest.mark.sandbox
def test_a_neighbour_of_a_worker_killed_twice_gets_its_result_alone(tmp_path, hw2):
    folders = [colab_student(tmp_path / "class", n) for n in ("ann", "mallory", "ben")]
    (tmp_path / "run").mkdir()
    jobs = make_jobs(folders, hw2, settings(tmp_path, cache_dir=tmp_path / "run"))
    store, events = ResultStore(tmp_path / "grades"), []
    LocalExecutor(store, [Slot(0, 1), Slot(1, 1)],
                  grade_fn=kills_its_worker_beside_a_neighbour).run(jobs, events.append)
    results = {j.student: store.get(j) for j in jobs}
    (tmp_path / "alone").mkdir()
    (ann,) = make_jobs(folders[:1], hw2, settings(tmp_path, cache_dir=tmp_path / "alone"))
    LocalExecutor(ResultStore(tmp_path / "alone-grades"), [Slot(0, 1)],
                  grade_fn=kills_its_worker_beside_a_neighbour).run([ann], lambda e: None)
    alone = ResultStore(tmp_path / "alone-grades").get(ann)
    assert dataclasses.replace(results["ann"], created="") == dataclasses.replace(alone,
                                                                                  created="")
    assert results["ben"].status == "ok"
    assert [e.kind for e in events if e.kind != "started"].count("failed") == 1
    mallory = results["mallory"]
    assert (tmp_path / "run" / "mallory.runs").read_text() == "ran\n" * 2   # beside ann, alone
    assert mallory.status == "crashed" and "died" in mallory.error and "alone" in mallory.error


def test_a_slot_s_sandboxes_see_only_its_gpu_and_mps_only_when_asked(tmp_path, monkeypatch):
    from grader.run.jobs import _placed
    from grader.sandbox.bwrap import Sandbox

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(tmp_path))
    placed = settings(tmp_path, gpu=True, gpu_id="GPU-9f8e7d6c-aaaa", mps=True)
    with _placed(placed), Sandbox(LIMITS, gpu=True, threads=3) as box:
        env = box._env("/opt/grader")
        command = box._bwrap_command(["true"])
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-9f8e7d6c-aaaa"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["CUDA_MPS_PIPE_DIRECTORY"] == str(tmp_path)
    assert command[command.index(str(tmp_path)) - 1] == "--bind"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"        # restored afterwards
    with _placed(dataclasses.replace(placed, mps=False)), Sandbox(LIMITS, gpu=True) as box:
        assert "CUDA_MPS_PIPE_DIRECTORY" not in box._env("/opt/grader")
        assert str(tmp_path) not in box._bwrap_command(["true"])
    with Sandbox(LIMITS, gpu=False) as box:
        assert box._env("/opt/grader")["CUDA_VISIBLE_DEVICES"] == ""


def test_results_follow_the_umask_without_ever_clearing_it(tmp_path, monkeypatch):
    """write_atomic reads the umask without setting it: os.umask(0), even for a moment, would
    let a file another thread creates meanwhile be world-writable."""
    from grader import results

    old = os.umask(0o027)
    try:
        def no_umask_calls(_mask):
            raise AssertionError("os.umask called while writing a result")

        monkeypatch.setattr(results.os, "umask", no_umask_calls)
        path = results.write_atomic(tmp_path / "alice.json", b"{}\n")
        assert (path.stat().st_mode & 0o777) == 0o640
    finally:
        monkeypatch.undo()
        os.umask(old)


def test_spec_fields_added_in_0_4_0_leave_an_unchanged_spec_its_key():
    """The public/private split, students' weights and `within` are left out of a job's key
    while unused: ece661-hw2's spec part hashes as it did in 0.3.0 (7842811), so adding spec
    fields does not by itself regrade a class. A spec that uses one of them is another key."""
    import dataclasses
    import hashlib

    from grader import spec
    from grader.results import ReferenceBand, Scores, TrainingResult, to_dict
    from grader.run import jobs

    def digest(assignment) -> str:
        text = json.dumps(jobs._graded_by(assignment), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    hw2 = spec.load("ece661-hw2")
    assert digest(hw2) == "01eae172aeb4ac75ff6604a4f7e6f273166bfcda1cd3fbc3564c7ca89d006b66"
    split = dataclasses.replace(hw2, held_out=spec.HeldOutSpec(0.3, seed=0))
    assert digest(split) != digest(hw2)
    run = to_dict(TrainingResult(model="simplenn", ok=True, scores=Scores(
        accuracy=0.5, per_class=[0.5], confusion=[[1]])))
    assert "public_accuracy" in run["scores"] and "public_accuracy" not in jobs._keyed(run)["scores"]
    band = to_dict(ReferenceBand(model="simplenn", seeds=[0], accuracies=[0.5], mean=0.5,
                                 spread=0.0, chance=0.1, threshold=0.2, learned=True))
    assert jobs._keyed(band) == {k: v for k, v in band.items()
                                 if k not in ("public_accuracies", "ious", "hits")}
