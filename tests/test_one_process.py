"""`grader evaluate` on the CPU grades each student in one sandboxed process: a forked child
probes every candidate (student code runs there), writes its report and exits; the parent,
which never ran student code, trains the chosen models. What the probed code did must not
reach training, and files it plants in out/ must not hang the grader."""

from __future__ import annotations

import pytest

from grader.run.evaluate import Options, evaluate
from grader.sandbox.bwrap import Sandbox
from tests.factories.models import SIMPLENN, simplenn
from tests.test_parallel import world  # noqa: F401  (the class-scale test's spec and data)

pytestmark = [pytest.mark.sandbox, pytest.mark.train]

# At its first import only (the probing), a FIFO where the grader looks for the report, and a
# daemon that overwrites the held-out predictions of whatever trains next. The marker lives in
# the sandbox's /tmp, which both parts of the process share, so the training's import of the
# same module starts nothing.
DAEMON = ("import os, time\n"
          "while True:\n"
          "    for name in os.listdir('/sandbox/out'):\n"
          "        if name.startswith(('final-', 'epochs-')):\n"
          "            open('/sandbox/out/' + name, 'wb').write(b'not predictions')\n"
          "    time.sleep(0.02)\n")
PLANTER = simplenn(body=f"""
    import os, subprocess, sys
    if not os.path.exists("/tmp/planted"):
        open("/tmp/planted", "w").close()
        os.mkfifo("/sandbox/out/probes.json")
        subprocess.Popen([sys.executable, "-c", {DAEMON!r}], start_new_session=True)
""")

# A helper module the model imports replaces a function the harness watches: probing sees it
# and puts the original back; training imports the helper afresh, so it is seen again there.
HELPER = """
import json

_real_dumps = json.dumps
json.dumps = lambda *args, **kwargs: _real_dumps(*args, **kwargs)


def width():
    return 120
"""
USES_HELPER = SIMPLENN.replace("import torch.nn as nn", "import torch.nn as nn\nimport helpers") \
    .replace("nn.Linear(16 * 6 * 6, 120)", "nn.Linear(16 * 6 * 6, helpers.width())")


@pytest.fixture(scope="module")
def graded(world, tmp_path_factory):  # noqa: F811  (the imported fixture)
    klass = tmp_path_factory.mktemp("one-process") / "class"
    for name, files in {"pat": {"simplenn.py": PLANTER},
                        "hal": {"models.py": USES_HELPER, "helpers.py": HELPER}}.items():
        (klass / name).mkdir(parents=True)
        for rel, text in files.items():
            (klass / name / rel).write_text(text)
    starts: list[str] = []
    real = Sandbox.start

    def counting(self, module, job, **kwargs):
        starts.append(module)
        return real(self, module, job, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Sandbox, "start", counting)
        results = evaluate(klass, world["assignment"], klass.parent / "out",
                           Options(cache_dir=world["cache"], jobs=1, threads=1))
    return {r.student: r for r in results}, starts


def test_one_process_per_student(graded):
    _, starts = graded
    students = starts[starts.index("inspect_models"):]   # after the references' training
    assert students == ["inspect_models", "inspect_models"]


def test_a_fifo_for_the_report_does_not_hang_and_daemons_die_before_training(graded):
    results, _ = graded
    pat = results["pat"]
    assert pat.check.sandbox.status == "ok"
    assert next(c for c in pat.check.checks if c.id == "simplenn.builds").passed
    training = pat.training[0]
    assert training.ok and training.scores, training.error   # the daemon died with the probing


def test_monkeypatching_by_an_imported_helper_is_seen_in_training_too(graded):
    results, _ = graded
    hal = results["hal"]
    assert not next(c for c in hal.check.checks if c.id == "sandbox.tampering").passed
    training = hal.training[0]
    assert not training.ok and "json.dumps" in training.tampering
    assert "replaced torch functions while it was retrained" in training.error
