"""Feedback reports: charts, template contexts, student and summary PDFs, build_reports.

PDFs are rendered once per module (WeasyPrint takes a second or two each) and shared by the
tests that read them. Golden HTML lives in tests/files/golden/; refresh it after an intended
template change with GRADER_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import sys
from pathlib import Path

import pypdf
import pypdfium2
import pytest
from click.testing import CliRunner

from grader import results
from grader.report import charts
from grader.report import pdf
from grader.report import render as report
from grader.cli import main
from grader.errors import InputError
from grader.report.context import (clean_output, confused_pairs, layer_rows, student_context,
                                   sum_confusions, summary_context)
from grader.results import LayerRow
from tests.factories.results import (crashed_result, failing_result, good_result, no_check_result,
                              tiny_imagenet_result)

GOLDEN = Path(__file__).parent / "files" / "golden"
UPDATE = os.environ.get("GRADER_UPDATE_GOLDEN") == "1"


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def ink_fraction(path: Path, page: int = 0) -> float:
    """Share of the page's pixels that are not (near) white."""
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        image = pdf[page].render(scale=0.5).to_pil().convert("L")
    finally:
        pdf.close()
    histogram = image.histogram()                          # 256 grey levels
    return sum(histogram[:200]) / sum(histogram)


def squash(text: str) -> str:
    """PDF text with whitespace collapsed (table cells and wrapped lines)."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pdfs")
    made = {}
    for name, make in [("good", good_result), ("failing", failing_result),
                       ("crashed", crashed_result)]:
        made[name] = report.write_student_pdf(make(), out / f"{name}.pdf")
    return made


# ------------------------------------------------------------------ small pure functions

def test_confused_pairs_hand_computed():
    confusion = [[5, 3, 0],
                 [1, 8, 1],
                 [0, 4, 6]]
    pairs = confused_pairs(confusion, ["a", "b", "c"], top=3)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("c", "b", 4), ("a", "b", 3), ("b", "a", 1)]
    assert pairs[0]["percent"] == pytest.approx(40.0)      # 4 of c's 10 images
    assert pairs[1]["percent"] == pytest.approx(37.5)      # 3 of a's 8 images


def test_confused_pairs_of_a_perfect_matrix_is_empty():
    assert confused_pairs([[3, 0], [0, 2]], ["x", "y"]) == []


def test_sum_confusions_skips_matrices_of_another_shape():
    total, used = sum_confusions([[[1, 2], [3, 4]], [[1, 1], [1, 1]], [[9]]])
    assert total == [[2, 3], [4, 5]] and used == 2


def test_clean_output_keeps_the_tail_without_terminal_escapes():
    text = "\n".join(f"line {i}" for i in range(500)) + "\n\x1b[31mKilled\x1b[0m"
    out = clean_output(text)
    assert out["text"].endswith("line 499\nKilled")
    assert "\x1b" not in out["text"]
    assert out["omitted_lines"] == 501 - len(out["text"].splitlines())


def test_templates_are_found():
    assert (pdf.templates_dir() / "student.html.j2").is_file()
    assert (pdf.templates_dir() / "report.css").is_file()


# ------------------------------------------------------------------ charts

def test_charts_are_deterministic_and_labelled():
    r = good_result()
    one = charts.training_curves(r.training[0].history, r.reference[0].history, prefix="a")
    two = charts.training_curves(r.training[0].history, r.reference[0].history, prefix="a")
    assert one == two
    assert one.startswith("<svg") and "<?xml" not in one
    for label in ("epoch", "cross-entropy loss", "accuracy (%)", "your model", "reference"):
        assert label in one


def test_chart_ids_are_scoped_by_prefix():
    r = good_result()
    svg = charts.training_curves(r.training[0].history, None, prefix="curves-x")
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert ids and all(i.startswith("curves-x-") for i in ids)
    for ref in re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg):
        assert (ref[0] or ref[1]) in ids


@pytest.mark.slow                   # a 200-class heatmap
def test_heatmap_annotates_ten_classes_but_not_two_hundred():
    small = good_result().predictions
    svg = charts.confusion_heatmap(small.confusion, good_result().class_names)
    assert "airplane" in svg and "predicted class" in svg
    assert len(re.findall(r"<text\b", svg)) >= 100        # one number per cell
    tiny = tiny_imagenet_result()
    big = charts.confusion_heatmap(tiny.predictions.confusion, tiny.class_names)
    assert tiny.class_names[199] in big                    # names on both axes
    assert len(re.findall(r"<text\b", big)) < 2 * 200 + 20  # tick labels only


def test_charts_use_the_bundled_font():
    svg = charts.training_curves(good_result().training[0].history, None)
    assert "font-family: 'Grader Sans'" in svg
    from matplotlib import font_manager
    found = font_manager.findfont("Grader Sans", fallback_to_default=False)
    assert Path(found).parent == pdf.templates_dir() / "fonts"


def test_png_baseline_is_a_data_uri():
    uri = charts.score_histogram([10, 50, 90], 100, fmt="png")
    assert uri.startswith("data:image/png;base64,")
    assert charts.png_width_inches(uri) == pytest.approx(7.0, abs=0.01)


# ------------------------------------------------------------------ student context and HTML

def test_student_context_of_a_failing_submission():
    ctx = student_context(failing_result())
    assert [c.id for c in ctx["checks"]["failed"]] == [
        "simplenn.params", "simplenn-bn.batchnorm", "resnet20.found", "predictions.format"]
    simplenn = ctx["models"][0]
    assert simplenn["params_ok"] is False and simplenn["differing"] == 2
    assert [t["t"].ok for t in ctx["training"]] == [True, False]
    assert ctx["results"]["is_predictions"] is False       # falls back to the retrained model
    assert ctx["output"] is None


def test_layer_table_leaves_out_layers_that_change_nothing():
    plain = [
        LayerRow("conv1", "Conv2d", [1, 8, 28, 28], [8, 3, 5, 5], 608, 608),
        LayerRow("relu1", "ReLU", [1, 8, 28, 28], None, 0, 0),              # left out
        LayerRow("pool1", "MaxPool2d", [1, 8, 14, 14], None, 0, 0),         # new shape: kept
        LayerRow("drop", "Dropout", [1, 8, 14, 14], None, 0, None),         # left out
        LayerRow("extra", "Identity", [1, 8, 14, 14], None, 0, 5, True),   # differs: kept
        LayerRow("relu2", "ReLU", [1, 8, 14, 14], None, 0, 0),              # left out
        LayerRow("never", "ReLU", None, None, 0, 0),                        # never ran: kept
        LayerRow("fc", "Linear", [1, 10], [10, 1568], 15690, 15690),
    ]
    rows, hidden = layer_rows(plain)
    assert [(row["index"], row["row"].name) for row in rows] == [
        (1, "conv1"), (3, "pool1"), (5, "extra"), (7, "never"), (8, "fc")]
    assert hidden == "2 ReLU, 1 Dropout"
    assert layer_rows(plain[:1]) == ([{"index": 1, "row": plain[0], "extra": False}], "")


def _option_b_resnet(params_ok: bool):
    """good_result's ResNet-20 with option B's projection shortcuts (1x1 conv + BN) where the
    channels change: layers the option A reference lacks."""
    result = good_result()
    resnet = result.check.models[2]
    layers = []
    for row in resnet.layers:
        layers.append(row)
        if row.name in ("layer2.0.bn2", "layer3.0.bn2"):
            c = row.weight_shape[0]
            layers += [LayerRow(f"{row.name[:8]}.shortcut.0", "Conv2d", row.output_shape,
                                [c, c // 2, 1, 1], c * c // 2, None),
                       LayerRow(f"{row.name[:8]}.shortcut.1", "BatchNorm2d", row.output_shape,
                                [c], 2 * c, None)]
    resnet = dataclasses.replace(resnet, layers=layers, params=272474)
    checks = [dataclasses.replace(c, passed=params_ok) if c.id == "resnet20.params" else c
              for c in result.check.checks]
    check = dataclasses.replace(result.check, models=[*result.check.models[:2], resnet],
                                checks=checks)
    return dataclasses.replace(result, check=check)


@pytest.mark.slow    # over 1 s (a whole report): keeps the fast tier under a minute
def test_layers_no_reference_layer_matches_are_marked_extra():
    model = student_context(_option_b_resnet(params_ok=False))["models"][2]
    extra = [row["row"].name for row in model["rows"] if row["extra"]]
    assert extra == ["layer2.0.shortcut.0", "layer2.0.shortcut.1", "layer3.0.shortcut.0",
                     "layer3.0.shortcut.1"]
    assert model["extra"] == 4 and model["extra_params"] == 512 + 64 + 2048 + 128
    html = report.render_student_html(_option_b_resnet(params_ok=False))
    assert "(4 layers not in the reference, 2,752 parameters)" in html
    assert html.count("not in the reference</td>") == 4
    assert html.count('<tr class="differs">') == 4


def test_accepted_variant_is_shown_but_not_in_red():
    """Option B passes the count (272,474 is in range): its extra layers are listed, and the
    table does not contradict the verdict with red rows."""
    html = report.render_student_html(_option_b_resnet(params_ok=True))
    assert ("(4 layers not in the reference, 2,752 parameters; the count is within the "
            "accepted range)") in html
    assert html.count("not in the reference</td>") == 4
    assert 'class="differs"' not in html.split('id="models"')[1].split("</article>")[2]


def test_good_resnet_table_lists_weighted_layers_only():
    resnet = student_context(good_result())["models"][2]
    types = {row["row"].type for row in resnet["rows"]}
    assert "ReLU" not in types and {"Conv2d", "BatchNorm2d", "Linear"} <= types
    assert resnet["hidden"].startswith("19 ReLU")


@pytest.mark.parametrize("make", [good_result, failing_result, crashed_result,
                                  tiny_imagenet_result, no_check_result])
def test_student_html_renders_whatever_is_missing(make):
    html = report.render_student_html(make())
    assert "<html" in html and make().student in html
    assert "Traceback" not in html or make is crashed_result


def test_no_check_report_says_so():
    html = report.render_student_html(no_check_result())
    assert "The checks did not run" in html
    assert "no .py or .ipynb file" in html


@pytest.mark.slow                   # a 200-class report with its charts
def test_two_hundred_classes_list_only_the_weakest():
    ctx = student_context(tiny_imagenet_result())
    assert ctx["results"]["cut"] and len(ctx["results"]["rows"]) == 15
    values = [row["cells"][0]["value"] for row in ctx["results"]["rows"]]
    assert values == sorted(values)


def _normalise(html: str) -> str:
    """Charts are compared by their own tests; here they become placeholders."""
    return re.sub(r'src="data:image/[^"]+"', 'src="data:chart"', html)


@pytest.mark.parametrize("name, make", [("good", good_result), ("failing", failing_result),
                                        ("crashed", crashed_result)])
def test_student_html_matches_golden(name, make):
    html = _normalise(report.render_student_html(make()))
    golden = GOLDEN / f"student-{name}.html"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(html, encoding="utf-8")
    assert golden.is_file(), f"{golden} missing: run with GRADER_UPDATE_GOLDEN=1 to create it"
    assert html == golden.read_text(encoding="utf-8"), (
        f"student HTML differs from {golden.name}; if the change is intended, rerun with "
        f"GRADER_UPDATE_GOLDEN=1 and review the diff")


def test_embedded_charts_are_svg():
    html = report.render_student_html(good_result())
    uris = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(uris) == 4                                  # three curves, one heatmap
    assert all(base64.b64decode(u).startswith(b"<svg") for u in uris)


# ------------------------------------------------------------------ student PDFs

@pytest.mark.pdf
def test_good_pdf(pdfs):
    text = squash(pdf_text(pdfs["good"]))
    assert "alice_good" in text
    assert "100 / 100" in text
    assert "All 15 checks passed." in text
    assert "91.3%" in text                                 # predictions.csv score
    assert "cross-entropy loss" in text                    # chart text stays text (vector)
    assert "Page 1 of" in text


@pytest.mark.pdf
def test_failing_pdf_gives_hints_and_expected_figures(pdfs):
    text = squash(pdf_text(pdfs["failing"]))
    assert "bob_failing" in text
    assert "21 / 100" in text
    assert "Use nn.Conv2d(8, 16, 3) and nn.Linear(16 * 6 * 6, 120)." in text     # a hint
    assert "conv2 -> F.relu -> bn2 (BatchNorm2d), BatchNorm after the activation" in text
    assert "before the activation: x = F.relu(self.bn1(self.conv1(x)))" in text
    assert "expected 1,168" in text and "expected 69,240" in text   # highlighted layers
    assert "substitute" in text.lower()
    assert "Training failed: RuntimeError: mat1 and mat2" in text
    assert "label 'catt' is not a class name" in text


@pytest.mark.pdf
def test_crashed_pdf_shows_the_tail_of_the_output(pdfs):
    text = squash(pdf_text(pdfs["crashed"]))
    assert "0 / 100" in text
    assert "memory limit of 4 GiB exceeded" in text
    assert "MemoryError: cannot allocate 1.0 GiB" in text
    assert "earlier lines left out" in text
    assert "batch 0/391" not in text                       # the head was cut


@pytest.mark.parametrize("name", ["good", "failing", "crashed"])
@pytest.mark.pdf
def test_first_page_is_not_blank(pdfs, name):
    assert ink_fraction(pdfs[name]) > 0.03


@pytest.mark.pdf
def test_long_layer_table_repeats_its_header(pdfs):
    reader = pypdf.PdfReader(pdfs["good"])
    pages_with_resnet_rows = [p.extract_text() for p in reader.pages
                              if "layer3.2.conv1" in p.extract_text()
                              or "layer2.0.conv1" in p.extract_text()]
    assert pages_with_resnet_rows
    assert all("Weight shape" in page for page in pages_with_resnet_rows)


@pytest.mark.pdf
def test_pdf_embeds_the_bundled_fonts(pdfs):
    reader = pypdf.PdfReader(pdfs["failing"])
    fonts = set()
    for page in reader.pages:
        resources = [page["/Resources"]] + [
            xobject.get_object()["/Resources"]
            for xobject in page["/Resources"].get("/XObject", {}).values()
            if "/Resources" in xobject.get_object()]
        for res in resources:
            fonts |= {font.get_object()["/BaseFont"].split("+", 1)[1]
                      for font in res.get("/Font", {}).values()}
    assert all(name.startswith("Grader-") for name in fonts), fonts     # no system font
    kinds = {"mono" if "Mono" in name else "bold" if "Bold" in name else "regular"
             for name in fonts}
    assert kinds == {"regular", "bold", "mono"}, fonts


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.pdf
def test_rendering_leaves_the_garbage_collector_as_it_was(tmp_path, enabled):
    import gc
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        report.write_student_pdf(no_check_result(), tmp_path / "r.pdf")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.pdf
def test_pdf_is_written_atomically(tmp_path):
    target = tmp_path / "sub" / "r.pdf"
    report.write_student_pdf(no_check_result(), target)
    assert target.read_bytes().startswith(b"%PDF")
    assert [p.name for p in target.parent.iterdir()] == ["r.pdf"]


# ------------------------------------------------------------------ summary and the batch

def test_summary_context_rates_and_leaderboard():
    # handed in out of ranked order, so neither ranking can come from the input's order
    ctx = summary_context([crashed_result("c"), good_result("a"), failing_result("b")], [])
    rates = {row["id"]: row for row in ctx["checks"]}
    assert rates["simplenn.params"]["passed"] == 1 and rates["simplenn.params"]["count"] == 2
    ranked = [(row["rate"], row["id"]) for row in ctx["checks"]]
    assert ranked == sorted(ranked)                                 # most failed first
    assert ranked[0][0] == 0.0 and ranked[-1][0] == 1.0 and len(ranked) == len(rates)
    assert [row["student"] for row in ctx["leaderboard"]["rows"]] == ["a", "b", "c"]
    assert [p["student"] for p in ctx["problems"]] == ["c"]
    assert ctx["pairs"]["label"] == "predictions.csv" and ctx["pairs"]["count"] == 1
    items = {row["id"]: row for row in ctx["items"]}
    assert items["lab1-model"]["mean"] == pytest.approx((10 + 7.5 + 0) / 3)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A results folder with three good files, one corrupt and one missing a field."""
    root = tmp_path_factory.mktemp("batch")
    res = root / "results"
    res.mkdir()
    for r in (good_result(), failing_result(), crashed_result()):
        results.save(r, res / f"{r.student}.json")
    (res / "corrupt.json").write_text('{"schema": 1, "student": "x", ', encoding="utf-8")
    data = results.to_dict(good_result("frank_missing"))
    del data["rubric"]
    (res / "missing-field.json").write_text(json.dumps(data), encoding="utf-8")
    outcome = report.build_reports(res, root / "reports")
    return outcome, root / "reports"


@pytest.mark.pdf
def test_build_reports_makes_the_others_and_lists_failures(batch):
    outcome, out = batch
    assert outcome.students == ["alice_good", "bob_failing", "carol_crashed"]
    assert sorted(p.name for p in out.glob("*.pdf")) == [
        "alice_good.pdf", "bob_failing.pdf", "carol_crashed.pdf", "class-summary.pdf"]
    assert sorted(p.name for p in (out / "gradescope").iterdir()) == [
        "alice_good.json", "bob_failing.json", "carol_crashed.json"]
    import csv

    with open(out / "gradebook.csv", newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    assert outcome.gradebook == out / "gradebook.csv"
    assert (header[0], header[-1]) == ("Student", "ece661-hw2 total")
    # the readable results only (not the corrupt ones), sorted, with their totals
    assert [(row[0], row[-1]) for row in rows] == [
        ("Points Possible", "100"), ("alice_good", "100"), ("bob_failing", "21"),
        ("carol_crashed", "0")]
    failures = {Path(f.path).name: f.message for f in outcome.failures}
    assert set(failures) == {"corrupt.json", "missing-field.json"}
    assert "corrupt result file (invalid JSON" in failures["corrupt.json"]
    assert "rubric" in failures["missing-field.json"]
    assert not list(out.glob(".*.tmp"))                    # no temporary files left


@pytest.mark.pdf
def test_summary_pdf_lists_failures_and_crashes(batch):
    outcome, _ = batch
    text = squash(pdf_text(outcome.summary))
    assert "Class summary" in text
    assert "corrupt.json" in text and "missing-field.json" in text
    assert "carol_crashed" in text and "memory limit of 4 GiB exceeded" in text
    assert "simplenn.params" in text                       # per-check pass rates
    assert ink_fraction(outcome.summary) > 0.03


def test_build_reports_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="results folder not found"):
        report.build_reports(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no result files \(\*\.json\)"):
        report.build_reports(tmp_path / "empty", tmp_path / "out")


@pytest.mark.pdf
def test_malformed_values_become_a_failure_not_a_crash(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    data = results.to_dict(no_check_result())
    data["rubric"][0]["earned"] = "lots"                   # loads, but is not a number
    (res / "odd.json").write_text(json.dumps(data), encoding="utf-8")
    outcome = report.build_reports(res, tmp_path / "out")
    assert outcome.students == []
    assert "malformed values" in outcome.failures[0].message
    assert outcome.summary.is_file()


@pytest.mark.pdf
def test_build_reports_in_two_processes(tmp_path):
    res = tmp_path / "results"
    res.mkdir()
    for name in ("p1", "p2"):
        results.save(no_check_result(name), res / f"{name}.json")
    outcome = report.build_reports(res, tmp_path / "out", jobs=2)
    assert outcome.students == ["p1", "p2"] and not outcome.failures
    assert all(p.read_bytes().startswith(b"%PDF") for p in outcome.student_pdfs)


# ------------------------------------------------------------------ a machine without Pango

@pytest.fixture
def no_pango(pango_missing):
    with pango_missing():
        yield


def test_report_without_pango_says_what_to_install_and_keeps_the_results(tmp_path, no_pango):
    res = tmp_path / "grades"
    res.mkdir()
    results.save(good_result("alice"), res / "alice.json")
    before = (res / "alice.json").read_bytes()
    outcome = CliRunner().invoke(main, ["report", str(res), "--out", str(tmp_path / "pdfs")])
    assert outcome.exit_code == 4, outcome.output
    assert "Traceback" not in outcome.output
    assert "WeasyPrint's system libraries (Pango and GObject)" in outcome.output
    assert "libgobject-2.0-0" in outcome.output and "apt install libpango" in outcome.output
    assert not list(tmp_path.rglob("*.pdf")) and not list(tmp_path.rglob("*.csv"))
    assert (res / "alice.json").read_bytes() == before


@pytest.mark.parametrize("extra", [["--report"], ["--integrity"]])
def test_evaluate_that_would_end_in_pdfs_stops_before_grading_without_pango(
        tmp_path, no_pango, extra):
    klass = Path(__file__).parents[1] / "submissions" / "ece661-hw2"
    out = tmp_path / "grades"
    outcome = CliRunner().invoke(main, ["evaluate", str(klass), "-a", "ece661-hw2", "--out",
                                        str(out), *extra])
    assert outcome.exit_code == 4, outcome.output
    assert "libgobject-2.0-0" in outcome.output and "grader report" in outcome.output
    assert not out.exists()                                # nobody was graded


def test_report_engine_is_found_here():
    assert pdf.pdf_engine_problem() is None


def test_weasyprint_missing_altogether_is_told_apart_from_missing_pango(monkeypatch):
    for name in [n for n in sys.modules if n.split(".")[0] == "weasyprint"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "weasyprint", None)     # import raises ImportError
    problem = pdf.pdf_engine_problem()
    assert "need WeasyPrint, which cannot be imported" in problem and "pip install" in problem
    assert "Pango" not in problem
