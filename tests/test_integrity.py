"""grader integrity: a generated class with every kind of copy planted (tests/factories/integrity.py).

The class is generated and compared once per module (about two seconds), the PDF rendered once.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pypdf
import pypdfium2
import pytest
from click.testing import CliRunner

from grader import spec
from grader.cli import main
from grader.integrity import IntegrityOptions, find_integrity, write_outputs
from grader.integrity import predictions as P
from grader.integrity.code import Document, Part, compare_documents
from tests.factories.integrity import make_class


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    gen = make_class(tmp_path_factory.mktemp("integrity"), honest=10, seed=3)
    task = spec.load(str(gen.spec))
    report = find_integrity(gen.root, task, IntegrityOptions(
        starter=(gen.starter,), sources=(gen.sources,), labels=gen.labels,
        public_labels=gen.public_labels, results=gen.results, jobs=2))
    return gen, task, report


@pytest.fixture(scope="module")
def outputs(generated, tmp_path_factory):
    _, _, report = generated
    return write_outputs(report, tmp_path_factory.mktemp("integrity-out"))


def _key(a: str, b: str) -> frozenset:
    return frozenset((a, b))


def test_every_planted_pair_is_flagged_with_its_kind(generated):
    gen, _, report = generated
    flagged = {_key(p.a, p.b): {f.kind for f in p.flags} for p in report.flagged}
    for kind, pair in gen.planted.items():
        assert kind in flagged.get(_key(*pair), set()), (kind, pair, flagged)


def test_planted_pairs_rank_above_every_honest_pair(generated):
    gen, _, report = generated
    planted = {_key(*pair) for pair in gen.planted.values()}
    ranks = {_key(p.a, p.b): i for i, p in enumerate(report.pairs)}
    worst_planted = max(ranks[k] for k in planted)
    honest = [i for k, i in ranks.items() if k not in planted]
    assert honest and worst_planted < min(honest)
    # and no honest pair carries a flag at all
    assert all(not p.flags for p in report.pairs if _key(p.a, p.b) not in planted)


def test_public_order_predictions_are_flagged_and_nobody_else(generated):
    gen, _, report = generated
    assert [s.student for s in report.students_flagged] == [gen.public_order_student]
    finding = report.students_flagged[0]
    assert finding.public.accuracy_secret < finding.public.chance + 0.03
    assert finding.public.accuracy_public > 0.8
    assert "public test set" in finding.flags[0].evidence


def test_copied_predictions_statistics(generated):
    gen, _, report = generated
    pair = next(p for p in report.pairs if _key(p.a, p.b) == _key(*gen.planted["predictions"]))
    assert pair.shared.shared > 4 * pair.shared.expected
    assert pair.shared.log10_p < -100
    assert pair.shared.null == "class"
    honest = [p.shared for p in report.pairs if p.shared and not p.flags]
    # honest pairs share about what the null model expects
    ratios = [s.shared / s.expected for s in honest]
    assert 0.7 < float(np.median(ratios)) < 1.3


def test_disguised_copy_is_textually_different_but_matches(generated):
    gen, _, report = generated
    original, copier = gen.planted["code"]
    text = (gen.root / copier).rglob("*.ipynb").__next__().read_text()
    assert "run_code_for_training" not in text and "train_model" in text
    pair = next(p for p in report.pairs if _key(p.a, p.b) == _key(original, copier))
    assert pair.code.similarity >= 0.7


@pytest.mark.slow    # over 1 s (a whole report): keeps the fast tier under a minute
def test_starter_only_class_and_required_architecture_raise_no_flag(tmp_path):
    gen = make_class(tmp_path, honest=8, seed=5, planted=False, starter_only=True)
    task = spec.load(str(gen.spec))
    report = find_integrity(gen.root, task, IntegrityOptions(
        starter=(gen.starter,), labels=gen.labels, results=gen.results, jobs=1))
    assert report.flagged == ()
    # everyone's DLStudio Net is identical, but it is required, so it is never compared
    assert all(m.model != "net" for p in report.pairs for m in p.models)
    # everyone's "Net3 = Net" is one design shared by all: noted as common, not flagged
    assert any("share one design" in n for n in report.notes)


def test_without_starter_the_template_would_match(tmp_path):
    """The starter removal is what keeps a small template-only class clean (in a larger
    class the template is also code common to more than common_max students)."""
    gen = make_class(tmp_path, honest=3, seed=6, planted=False, starter_only=True)
    task = spec.load(str(gen.spec))
    with_starter = find_integrity(gen.root, task, IntegrityOptions(starter=(gen.starter,)))
    without = find_integrity(gen.root, task, IntegrityOptions())
    assert not with_starter.flagged
    assert any(f.kind == "code" for p in without.flagged for f in p.flags)


def test_code_comparison_ignores_names_formatting_and_order():
    original = ("def train(net, loader, epochs):\n    opt = make_optimizer(net)\n"
                "    for epoch in range(epochs):\n        for x, y in loader:\n"
                "            opt.zero_grad()\n            loss = criterion(net(x), y)\n"
                "            loss.backward()\n            opt.step()\n"
                "            history.append(loss.item())\n    return history\n") * 2
    renamed = (original.replace("train", "fit").replace("opt", "optimiser")
               .replace("loss", "l").replace("    ", "  ").replace("(", "( "))
    helper = "def make_optimizer(net):\n    return SGD(net.parameters(), lr=0.1, momentum=0.9)\n"
    original = helper + "\n# training\n" + original
    renamed = renamed + "\n\n\ndef make_optimiser(model):  # reordered, renamed\n" \
        "  return SGD(model.parameters(), lr=0.01, momentum=0.5)\n"
    other = "import os\nprint(os.listdir('.'))\nfor f in sorted(os.listdir('.')):\n    print(f)\n"
    docs = [Document(name, text, (Part(0, "hw.py"),)) for name, text in
            (("a", original), ("b", renamed), ("c", other))]
    result = compare_documents(docs, [], [], common_max=5)
    match = {(m.a, m.b): m for m in result.matches}
    assert match[("a", "b")].similarity > 0.9
    assert ("a", "c") not in match


@pytest.mark.parametrize("k, n, p", [(0, 10, 0.5), (3, 10, 0.5), (7, 10, 0.5), (10, 10, 0.5),
                                     (2, 50, 0.01), (30, 200, 0.05)])
def test_binomial_tails_match_exact_sums(k, n, p):
    sf = sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k, n + 1))
    cdf = sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(0, k + 1))
    assert P.log10_binom_sf(k, n, p) == pytest.approx(math.log10(sf), abs=1e-9)
    assert P.log10_binom_cdf(k, n, p) == pytest.approx(math.log10(cdf), abs=1e-9)


def test_binomial_tail_far_below_float_range():
    # 950 shared errors where 2% of 10,000 are expected: p is about 1e-332, below any double
    assert P.log10_binom_sf(950, 10000, 0.02) == pytest.approx(-331.7, abs=0.1)


def test_agreement_without_labels_flags_the_copy():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, 5000)
    preds = []
    for skill in (0.8, 0.85, 0.9, 0.75, 0.82):
        row = truth.copy()
        flip = rng.random(5000) > skill
        row[flip] = rng.integers(0, 10, int(flip.sum()))
        preds.append(row)
    copy = preds[0].copy()
    flip = rng.random(5000) < 0.05
    copy[flip] = rng.integers(0, 10, int(flip.sum()))
    preds.append(copy)
    names = [f"s{i}" for i in range(6)]
    accuracies = [float((p == truth).mean()) for p in preds]
    stats = {(s.a, s.b): s for s in P.agreement(names, np.stack(preds), accuracies)}
    copied = stats[("s0", "s5")]
    assert copied.log10_p < -50
    assert all(s.log10_p > -3 for k, s in stats.items() if k != ("s0", "s5"))


@pytest.mark.pdf
def test_json_and_csv(generated, outputs):
    gen, _, report = generated
    data = json.loads(outputs.json.read_text())
    assert data["pairs_compared"] == len(gen.students) * (len(gen.students) - 1) // 2
    pairs = {_key(p["a"], p["b"]) for p in data["flagged_pairs"]}
    assert pairs == {_key(*pair) for pair in gen.planted.values()}
    code = next(p for p in data["flagged_pairs"] if p["code"] and p["flags"][0]["kind"] == "code")
    assert code["code"]["regions_a"][0]["where"].endswith(tuple(f"cell {i}" for i in range(30)))
    assert all(f["compared"] and "worth a look" in f["evidence"] for p in data["flagged_pairs"]
               for f in p["flags"])
    assert data["flagged_students"][0]["student"] == gen.public_order_student
    with outputs.csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["flags"] and len(rows) == len(report.pairs)
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))


@pytest.mark.pdf
def test_pdf_text_and_rendering(generated, outputs):
    gen, _, _ = generated
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(outputs.pdf).pages)
    assert "For the instructor only" in text and "worth a look" in text
    for pair in gen.planted.values():
        assert all(name in text for name in pair)
    assert "Shared errors in predictions.csv" in text and "Binomial tail" in text
    assert "layer tables" in text and "Matching code" in text
    pdf = pypdfium2.PdfDocument(str(outputs.pdf))
    try:
        image = pdf[0].render(scale=0.5).to_pil().convert("L")
    finally:
        pdf.close()
    histogram = image.histogram()
    assert 0.01 < sum(histogram[:200]) / sum(histogram) < 0.5
    svg = outputs.heatmap.read_text()
    assert svg.startswith("<svg") and gen.planted["code"][1] in svg


@pytest.mark.pdf
def test_cli_writes_the_outputs(generated, tmp_path):
    gen, _, _ = generated
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "integrity", str(gen.root), "--assignment", str(gen.spec), "--starter", str(gen.starter),
        "--sources", str(gen.sources), "--labels", str(gen.labels), "--public-labels",
        str(gen.public_labels), "--results", str(gen.results), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 pair(s) and 1 student(s) worth a look" in result.output
    assert {p.name for p in out.iterdir()} == {"integrity.pdf", "integrity.json",
                                               "integrity.csv", "integrity-heatmap.svg"}


@pytest.mark.parametrize("args, message", [
    (["TMP/missing-class"], "class folder not found"),
    (["CLASS", "--labels", "TMP/nope.csv"], "held-out labels file not found"),
    (["CLASS", "--starter", "TMP/no-such-dir"], "starter or sources path not found"),
    (["CLASS", "--results", "TMP/no-grades"], "results folder not found"),
])
def test_cli_bad_input_is_a_clean_error(generated, tmp_path, args, message):
    gen, _, _ = generated
    args = [str(gen.root) if a == "CLASS" else a.replace("TMP", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["integrity", *args, "--assignment", str(gen.spec),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.pdf
def test_spec_integrity_starter_is_used_by_the_cli(tmp_path):
    gen = make_class(tmp_path, honest=3, seed=7, planted=False, starter_only=True)
    text = gen.spec.read_text()
    gen.spec.write_text(text + '\n[integrity]\nstarter = ["starter"]\n')
    task = spec.load(str(gen.spec))
    assert task.integrity.starter == (str(gen.starter),)
    result = CliRunner().invoke(main, ["integrity", str(gen.root), "--assignment", str(gen.spec),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "0 pair(s) and 0 student(s) worth a look" in result.output
    gen.spec.write_text(text)          # without it the template matches (3 students)
    result = CliRunner().invoke(main, ["integrity", str(gen.root), "--assignment", str(gen.spec),
                                       "--out", str(tmp_path / "out2")])
    assert "0 pair(s)" not in result.output


def test_spec_integrity_starter_must_be_a_list(tmp_path):
    path = tmp_path / "hw.toml"
    from tests.factories.integrity import SPEC
    path.write_text(SPEC + '\n[integrity]\nstarter = "starter"\n')
    with pytest.raises(spec.SpecError, match="integrity.starter"):
        spec.load(str(path))


@pytest.mark.slow    # over 1 s (a whole report): keeps the fast tier under a minute
def test_only_the_class_summary_names_the_integrity_report():
    from grader.report.render import render_student_html, render_summary_html
    from tests.factories.results import class_of, good_result

    results = class_of(3)
    assert "integrity" not in render_summary_html(results).lower()
    assert "integrity.pdf" in render_summary_html(results, integrity_pdf="integrity.pdf")
    assert "integrity" not in render_student_html(good_result()).lower()


def test_excerpt_marks_matching_lines_with_their_file_and_line():
    from grader.integrity.documents import Region, excerpt

    cell1 = "import torch\nx = 1\n"
    cell2 = "def f(a):\n    return a + 1\n\ny = f(2)\nprint(y)\nz = 3\nw = 4"
    text = cell1 + "\n\n" + cell2
    doc = Document("s", text, (Part(0, "hw.ipynb cell 1"), Part(len(cell1) + 2,
                                                               "hw.ipynb cell 2")))
    start = text.index("def f")
    end = text.index("return a + 1") + len("return a + 1")
    lines, cut = excerpt(doc, (Region("hw.ipynb cell 2", 1, 2, start, end),))
    shown = [(ln.where, ln.line, "".join(s.text for s in ln.segments),
              any(s.marked for s in ln.segments)) for ln in lines]
    assert ("hw.ipynb cell 2", 1, "def f(a):", True) in shown
    assert ("hw.ipynb cell 2", 2, "    return a + 1", True) in shown
    assert ("hw.ipynb cell 2", 3, "", False) in shown           # one line of context
    assert all(where != "hw.ipynb cell 2" or line <= 3 for where, line, _, _ in shown)
    assert cut == 0 and lines[0].new_part


@pytest.mark.pdf
def test_evaluate_integrity_writes_beside_the_class_summary(generated, tmp_path):
    """What `grader evaluate --integrity` runs after grading: the integrity outputs in
    OUT/reports, then the reports, whose class summary names integrity.pdf."""
    from grader.cli.integrity import write_integrity
    from grader.report.render import build_reports

    gen, task, _ = generated
    reports = tmp_path / "reports"
    write_integrity(gen.root, task, gen.labels, gen.results, reports)
    assert (reports / "integrity.pdf").is_file()
    two = tmp_path / "two-results"        # two students' reports are enough (and quick)
    two.mkdir()
    for path in sorted(gen.results.glob("*.json"))[:2]:
        (two / path.name).write_bytes(path.read_bytes())
    outcome = build_reports(two, reports)
    summary = "\n".join(p.extract_text() for p in pypdf.PdfReader(outcome.summary).pages)
    assert "integrity.pdf" in summary and "Instructor only" in summary
    student = "\n".join(p.extract_text() for p in pypdf.PdfReader(outcome.student_pdfs[0]).pages)
    assert "integrity" not in student.lower()


def test_zips_broken_notebooks_and_bad_predictions_become_notes(tmp_path):
    import shutil

    gen = make_class(tmp_path, honest=5, seed=8, planted=False)
    names = sorted(p.name for p in gen.root.iterdir())
    zipped, broken, bad_csv = names[:3]
    shutil.make_archive(str(gen.root / zipped), "zip", gen.root, zipped)   # a Canvas zip
    shutil.rmtree(gen.root / zipped)
    next((gen.root / broken).glob("*.ipynb")).write_text('{"cells": [', encoding="utf-8")
    (gen.root / bad_csv / "predictions.csv").write_text("Id;Label\n0;cat\n", encoding="utf-8")
    task = spec.load(str(gen.spec))
    report = find_integrity(gen.root, task, IntegrityOptions(starter=(gen.starter,),
                                                             labels=gen.labels))
    assert zipped in report.students and len(report.students) == 5
    notes = "\n".join(report.notes)
    assert f"{broken}: " in notes and "not a readable Jupyter notebook" in notes
    assert f"{bad_csv}: predictions.csv not compared" in notes
    assert not report.flagged


def test_without_labels_results_in_grades_give_models_and_agreement(generated, monkeypatch):
    """No --results: ./grades (evaluate's default --out) is used; no --labels: predictions are
    compared by agreement, against the accuracies in those result files."""
    gen, task, _ = generated
    monkeypatch.chdir(gen.results.parent)
    report = find_integrity(gen.root, task, IntegrityOptions(starter=(gen.starter,), jobs=1))
    kinds = {_key(p.a, p.b): {f.kind for f in p.flags} for p in report.flagged}
    assert "model" in kinds[_key(*gen.planted["model"])]
    assert "agreement" in kinds[_key(*gen.planted["predictions"])]
    assert any("using the result files in grades/" in n for n in report.notes)


def test_a_writefile_cell_is_compared_once(tmp_path, make_notebook):
    """grader.inputs.sources blanks a %%writefile cell and reads its body as the module it writes:
    the code is compared once, under the cell it came from."""
    from grader.integrity.code import read_document

    body = "import torch.nn as nn\n\nclass Net3(nn.Module):\n    pass\n"
    make_notebook(tmp_path / "s" / "hw.ipynb", ["%%writefile models.py\n" + body,
                                                "from models import Net3\nnet = Net3()"])
    doc = read_document(tmp_path / "s", "s")
    assert doc.text.count("class Net3") == 1
    assert [p.where for p in doc.parts] == ["hw.ipynb cell 1", "hw.ipynb cell 2"]


def test_evaluate_integrity_on_one_submission_says_why_and_goes_on(tmp_path, capsys):
    from grader.cli.integrity import write_integrity

    gen = make_class(tmp_path, honest=2, seed=9, planted=False)
    one = next(gen.root.iterdir())
    write_integrity(one, spec.load(str(gen.spec)), None, gen.results, tmp_path / "reports")
    err = capsys.readouterr().err
    assert "integrity report not made" in err and "at least two" in err
    assert not (tmp_path / "reports" / "integrity.pdf").exists()


@pytest.mark.parametrize("assignment, free", [
    ("ece60146-hw5", ["net3"]),          # Net3: 100,000 to 50,000,000 parameters, any layers
    ("ece661-hw2", []),                  # ResNet-20's narrow range admits options A and B only
    ("tiny-imagenet", []),
])
def test_only_free_design_models_are_compared(assignment, free):
    from grader.integrity.models import free_models

    assert [m.key for m in free_models(spec.load(assignment))] == free


def test_spec_free_models_overrides_and_is_checked(tmp_path):
    from grader.integrity.models import free_models
    from tests.factories.integrity import SPEC

    path = tmp_path / "hw.toml"
    path.write_text(SPEC + '\n[integrity]\nfree_models = ["net"]\n')
    assert [m.key for m in free_models(spec.load(str(path)))] == ["net"]
    path.write_text(SPEC + '\n[integrity]\nfree_models = ["resnet"]\n')
    with pytest.raises(spec.SpecError, match="integrity.free_models"):
        spec.load(str(path))


def test_a_folder_and_a_zip_of_one_name_are_two_students_named_as_evaluate_names_them(
        tmp_path):
    import shutil

    from grader.inputs.handins import student_names

    gen = make_class(tmp_path, honest=3, seed=8, planted=False)
    members = sorted(gen.root.iterdir())
    first = members[0].name
    shutil.make_archive(str(gen.root / first), "zip", gen.root, first)   # alice/ and alice.zip
    task = spec.load(str(gen.spec))
    report = find_integrity(gen.root, task, IntegrityOptions(starter=(gen.starter,), jobs=1))
    expected = student_names(sorted(gen.root.iterdir()))    # evaluate's result names
    assert sorted(report.students) == sorted(expected.values())
    assert f"{first}.zip" in report.students and first in report.students


def test_integrity_settings_do_not_decide_a_students_grade(tmp_path):
    """[integrity] (absolute starter paths) and the spec's own path are not in the content
    key: editing them, or moving the spec folder, does not regrade the class (the starter's
    code is, by content: tests/test_store.py; a starter path with no code there adds none)."""
    import dataclasses

    from grader.run.jobs import Settings, job_key
    from grader.sandbox.limits import Limits
    from grader.spec import IntegritySpec

    hw2 = spec.load("ece661-hw2")
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "hw2.py").write_text("import torch.nn as nn\n")
    limits = Limits(wall_seconds=10, memory_mb=1024, processes=64, file_size_mb=64,
                    cpu_seconds=60)
    s = Settings(prepared=tmp_path / "prepared", data_key="d" * 64, dataset_source="synthetic",
                 config=(("epochs", 2),), check_limits=limits, train_limits=limits)
    key = job_key(folder, hw2, s)
    moved = dataclasses.replace(hw2, path="/elsewhere/ece661-hw2.toml", integrity=IntegritySpec(
        starter=("/elsewhere/starter.ipynb",), free_models=("simplenn",)))
    assert job_key(folder, moved, s) == key
    assert job_key(folder, dataclasses.replace(hw2, title="changed"), s) != key


@pytest.mark.slow                   # starts worker processes (each imports the grader)
def test_kgram_hashes_are_the_same_in_every_process():
    """Fingerprints made in a worker process compare with the parent's: no salted hash()."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from grader.integrity.code import boilerplate_hashes

    code = ("def train(model, loader, optimizer):\n    for x, y in loader:\n"
            "        optimizer.zero_grad()\n        loss = (model(x) - y).pow(2).mean()\n"
            "        loss.backward()\n        optimizer.step()\n")
    here = boilerplate_hashes([Document("a", code, ())]).tolist()
    child = ("import json, sys\nfrom grader.integrity.code import Document, boilerplate_hashes\n"
             "print(json.dumps(boilerplate_hashes([Document('a', sys.stdin.read(), ())])"
             ".tolist()))")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", child], input=code, capture_output=True,
                             text=True, check=True, cwd=Path(__file__).parents[1],
                             env={**os.environ, "PYTHONHASHSEED": seed})
        assert json.loads(out.stdout) == here and len(here) > 20


WORKER_SEES = "as imported"


def _worker_sees(_):
    return WORKER_SEES


@pytest.mark.slow                   # starts worker processes (each imports the grader)
def test_parallel_workers_are_not_forked_from_the_grader(monkeypatch):
    """A worker forked from the grader would copy its memory (and its threads' held locks)."""
    from grader.integrity.parallel import parallel_map

    monkeypatch.setitem(globals(), "WORKER_SEES", "changed in the parent")
    assert parallel_map(_worker_sees, range(8), jobs=2) == ["as imported"] * 8


# ---------------------------------------------------------------- regions (issue 24)

def _marked_lines(html: str, owner: str) -> set[tuple[str, int]]:
    """(where, line) of every line the PDF's side-by-side table for owner highlights."""
    import re

    table = html.split(f"<h3>{owner}</h3>", 1)[1].split("</table>", 1)[0]
    marked, where = set(), None
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.DOTALL):
        part = re.match(r'<td colspan="2">(.*?)</td>', row)
        if part:
            where = part.group(1)
            continue
        line = int(re.search(r'<td class="where">(\d+)</td>', row).group(1))
        if "<mark>" in row:
            marked.add((where, line))
    return marked


@pytest.mark.pdf
def test_code_copied_across_three_cells_is_three_regions_in_json_csv_and_pdf(tmp_path,
                                                                             monkeypatch):
    """bob copied alice's data loading, SimpleNN and training loop, which run across three
    consecutive code cells (markdown between them) of a Colab notebook: each student's side
    is three regions, one per cell, with the lines of that cell, in every output."""
    import html as html_mod

    from tests.factories.integrity import make_three_cell_copy

    from grader.inputs.sources import read_sources
    from grader.integrity.report import render_integrity_html

    klass, template = make_three_cell_copy(tmp_path)
    monkeypatch.chdir(tmp_path)
    report = find_integrity(klass, spec.load("ece661-hw2"),
                            IntegrityOptions(starter=(template,), jobs=1))
    outputs = write_outputs(report, tmp_path / "out")
    expected = {
        "alice": [("SimpleNN_CIFAR10.ipynb cell 4", 5, 12),
                  ("SimpleNN_CIFAR10.ipynb cell 5", 1, 19),
                  ("SimpleNN_CIFAR10.ipynb cell 6", 1, 15)],
        "bob": [("hw2 (1).ipynb cell 5", 5, 12),
                ("hw2 (1).ipynb cell 6", 2, 20),      # line 1 is bob's own comment
                ("hw2 (1).ipynb cell 7", 1, 15)],     # line 16 is his own print
    }
    data = json.loads(outputs.json.read_text())
    [pair] = data["flagged_pairs"]
    assert (pair["a"], pair["b"]) == ("alice", "bob")
    assert pair["flags"][0]["kind"] == "code"
    for side, owner in (("regions_a", "alice"), ("regions_b", "bob")):
        assert [(r["where"], r["first_line"], r["last_line"]) for r in pair["code"][side]] \
            == expected[owner]
    assert "3 regions in alice's files and cells, 3 in bob's" in pair["flags"][0]["evidence"]

    with outputs.csv.open(newline="") as fh:
        [row] = list(csv.DictReader(fh))
    for column, owner in (("code_regions_a", "alice"), ("code_regions_b", "bob")):
        assert row[column] == "; ".join(f"{w} lines {a}-{b}" for w, a, b in expected[owner])

    page = render_integrity_html(report, "<svg/>")
    pdf_text = "\n".join(p.extract_text() for p in pypdf.PdfReader(outputs.pdf).pages)
    for owner, regions in expected.items():
        cells = {u.where: u.source.split("\n") for f in read_sources(klass / owner)[0]
                 for u in f.units}
        code_lines = {(w, n) for w, a, b in regions for n in range(a, b + 1)
                      if cells[w][n - 1].strip()}
        assert _marked_lines(page, owner) == {(html_mod.escape(w), n) for w, n in code_lines}
        assert all(w in pdf_text for w, _, _ in regions)


def _filtered_lines(units) -> tuple[str, list[tuple[str, int]]]:
    """copydetect's filtered code of each line of each unit, joined, and the (where, line) each
    filtered character came from. Lines are filtered one by one: independent of
    grader.integrity's own mapping (the generated class has no string across lines)."""
    from copydetect.utils import filter_code

    code, origin = [], []
    for where, source in units:
        for number, line in enumerate(source.split("\n"), 1):
            filtered = filter_code(line, "line.py", "python")[0] if line.strip() else ""
            code.append(filtered)
            origin += [(where, number)] * len(filtered)
    return "".join(code), origin


@pytest.mark.pdf
def test_every_region_of_the_generated_class_is_lines_of_matching_code(generated, outputs):
    """Every region in integrity.json lies inside its cell or file, first line <= last line,
    and every line of it that holds code is matching code: covered by a k-gram of filtered
    code (25 characters) that the other side's code has too. integrity.csv lists the same."""
    from grader.inputs.sources import read_sources
    from grader.integrity.code import K

    gen, _, _ = generated
    data = json.loads(outputs.json.read_text())

    def units(owner: str) -> list[tuple[str, str]]:
        if owner.startswith("source: "):
            name = owner[len("source: "):]
            return [(name, (gen.sources / name).read_text(encoding="utf-8"))]
        return [(u.where, u.source) for f in read_sources(gen.root / owner)[0] for u in f.units]

    with outputs.csv.open(newline="") as fh:
        csv_rows = {(r["a"], r["b"]): r for r in csv.DictReader(fh)}
    checked = 0
    for pair in (p for p in data["flagged_pairs"] if p["code"]):
        for side, owner, other in (("a", pair["a"], pair["b"]), ("b", pair["b"], pair["a"])):
            sources = dict(units(owner))
            code, origin = _filtered_lines(units(owner))
            theirs, _ = _filtered_lines(units(other))
            shared = {theirs[i:i + K] for i in range(len(theirs) - K + 1)}
            matching = set()
            for i in range(len(code) - K + 1):
                if code[i:i + K] in shared:
                    matching.update(origin[i:i + K])
            regions = pair["code"][f"regions_{side}"]
            assert regions
            for region in regions:
                where, first, last = region["where"], region["first_line"], region["last_line"]
                lines = sources[where].split("\n")
                assert 1 <= first <= last <= len(lines), region
                holding_code = [n for n in range(first, last + 1)
                                if _filtered_lines([(where, lines[n - 1])])[0]]
                assert first in holding_code and last in holding_code, region
                assert all((where, n) in matching for n in holding_code), region
                checked += 1
            row = csv_rows[(pair["a"], pair["b"])][f"code_regions_{side}"]
            assert row == "; ".join(
                f"{r['where']} line {r['first_line']}" if r["first_line"] == r["last_line"]
                else f"{r['where']} lines {r['first_line']}-{r['last_line']}" for r in regions)
    assert checked >= 10


UNFINISHED = """\
def save_test_predictions(model, test_loader, path='predictions.csv'):
    model.eval()
    with open(path, 'w') as f:
        f.write('Id,Label\\n')
        for images, ids in test_loader:
            # TODO: write one line per image
"""


@pytest.mark.pdf
def test_parse_notes_are_one_line_on_page_one_and_an_appendix(tmp_path):
    """Most of a class hands in the course's untouched save_test_predictions notebook (an
    unfinished function) and one student a broken cell of their own: page 1 of the PDF sums
    the parse notes up in one line, a later page lists every one; the other notes stay."""
    from tests.factories.notebooks import write_notebook

    gen = make_class(tmp_path, honest=5, seed=8, planted=False)
    students = sorted(p.name for p in gen.root.iterdir())
    for name in students[:4]:
        write_notebook(gen.root / name / "save_test_predictions.ipynb",
                       ["import torch\n", UNFINISHED, "save_test_predictions(net, loader)\n"],
                       title="# Save your predictions", colab=True)
    own = next((gen.root / students[4]).glob("*.ipynb"))
    nb = json.loads(own.read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "broken",
                        "metadata": {}, "outputs": [], "source": "criterion =\n"})
    own.write_text(json.dumps(nb), encoding="utf-8")
    (gen.root / students[0] / "predictions.csv").write_text("Id;Label\n0;cat\n")   # another note
    report = find_integrity(gen.root, spec.load(str(gen.spec)),
                            IntegrityOptions(starter=(gen.starter,), results=gen.results,
                                             jobs=1))
    assert sum("does not parse" in n for n in report.notes) == 5
    pages = [p.extract_text() for p in
             pypdf.PdfReader(write_outputs(report, tmp_path / "out").pdf).pages]
    first = " ".join(pages[0].split())
    assert ("Code that does not parse: 5 parts of 5 students' code skipped, not compared; most "
            "often save_test_predictions.ipynb cell 2 (4 students). Each is listed in the "
            "appendix.") in first
    assert "expected an indented block" not in first and "criterion" not in first
    assert f"{students[0]}: predictions.csv not compared" in first    # other notes stay
    appendix = [i for i, text in enumerate(pages) if "Appendix: code that does not parse" in text]
    assert appendix and appendix[0] > 0
    listed = " ".join(" ".join(pages[appendix[0]:]).split())
    for name in students:
        assert name in listed
    assert listed.count("expected an indented block after 'for' statement on line 5") == 4
    assert "invalid syntax" in listed


@pytest.mark.slow    # over 1 s (a whole report): keeps the fast tier under a minute
def test_parse_notes_name_the_course_template_unchanged_as_the_template(tmp_path):
    """The course's save_test_predictions.ipynb is in the starter: three students hand it in
    untouched (re-saved by Colab), one finishes the TODO cell badly. The untouched cell's
    syntax error is named as the course template's, in the notes, page 1's line and the
    appendix; the edited cell is the student's own. Without the starter, every one is theirs."""
    from grader.integrity.report import parse_notes, parse_summary, render_integrity_html
    from tests.factories.notebooks import write_notebook

    gen = make_class(tmp_path, honest=4, seed=8, planted=False)
    students = sorted(p.name for p in gen.root.iterdir())
    cells = ["from google.colab import drive\ndrive.mount('/content/drive')\n",
             "import torch\n\n" + UNFINISHED,
             "save_test_predictions(net, test_loader)\n"]
    write_notebook(gen.starter / "save_test_predictions.ipynb", cells,
                   title="# Save your test predictions")
    for name in students[:3]:
        write_notebook(gen.root / name / "save_test_predictions.ipynb", cells,
                       title="# Save your test predictions", colab=True)
    mine = cells[1] + "            preds = model(images.cuda()).argmax(1\n"
    write_notebook(gen.root / students[3] / "save_test_predictions.ipynb",
                   [cells[0], mine, cells[2]], title="# Save your test predictions", colab=True)
    task = spec.load(str(gen.spec))
    report = find_integrity(gen.root, task, IntegrityOptions(starter=(gen.starter,), jobs=1))
    for name in students[:3]:
        assert (f"{name}: save_test_predictions.ipynb cell 2 is the course template's "
                "unfinished code; not compared (line 8: expected an indented block after 'for' "
                "statement on line 7)") in report.notes
    own = [n for n in report.notes if n.startswith(f"{students[3]}: save_test_predictions")]
    assert own == [f"{students[3]}: save_test_predictions.ipynb cell 2, line 9: '(' was never "
                   "closed: preds = model(images.cuda()).argmax(1: does not parse; that part "
                   "was skipped"]
    parsed, _ = parse_notes(report.notes)
    assert sorted((p["student"], p["where"], p["template"]) for p in parsed) == sorted(
        [(n, "save_test_predictions.ipynb cell 2", True) for n in students[:3]]
        + [(students[3], "save_test_predictions.ipynb cell 2", False)])
    assert parse_summary(parsed) == (
        "Code that does not parse: 4 parts of 4 students' code skipped, not compared (3 of them "
        "the course template's unfinished code, unchanged); most often "
        "save_test_predictions.ipynb cell 2 (4 students). Each is listed in the appendix.")
    html = render_integrity_html(report, "<svg xmlns='http://www.w3.org/2000/svg'/>")
    appendix = html[html.index('id="appendix-parse"'):]
    assert appendix.count("(the course template, unchanged)") == 3
    # without the starter, the same cells are the students' own
    alone = find_integrity(gen.root, task, IntegrityOptions(jobs=1))
    parsed, _ = parse_notes(alone.notes)
    assert len(parsed) == 4 and not any(p["template"] for p in parsed)
    assert not any("course template" in n for n in alone.notes)
