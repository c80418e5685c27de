"""Reports for the task kinds beyond classification (issue 20): localization's box section
(mean IoU, hit rate, IoU histogram, held-out images with their boxes drawn), declared heads in
the model table, IoU columns in the summary, the exports and the terminal, and the words of a
sequence task ("sequences", not "images"). Classification's reports stay as they were: the
golden files of tests/test_report.py pin them, and the tests here check that nothing of the
new sections appears for a classification result.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pypdf
import pypdfium2
import pytest

from grader import results
from grader.cli.terminal import check_summary, evaluation_table
from grader.report import charts, exports, pdf, tasks
from grader.report import render as report
from grader.report.context import student_context, summary_context
from grader.report.heads import head_ok, head_text
from grader.results import BoxExample, EpochStats, EvaluationResult, HeadShape
from tests.factories.results import (
    class_of,
    good_result,
    localization_result,
    sequence_result,
    tiny_imagenet_result,
)


def _svg(chart: dict) -> str:
    """The SVG text of an embedded chart (charts.embed's data: URI)."""
    assert chart["src"].startswith("data:image/svg+xml;base64,")
    return base64.b64decode(chart["src"].split(",", 1)[1]).decode()


@dataclass(frozen=True)
class Rendered:
    result: EvaluationResult
    context: dict
    html: str

    @property
    def text(self) -> str:
        return _text(self.html)


def _rendered(result: EvaluationResult) -> Rendered:
    """A result's student context and HTML, the charts made once (about 3 s a report)."""
    context = student_context(result)
    return Rendered(result, context, pdf.render_template("student.html.j2", context))


@pytest.fixture(scope="module")
def loc() -> Rendered:
    return _rendered(localization_result())


@pytest.fixture(scope="module")
def seq() -> Rendered:
    return _rendered(sequence_result())


@pytest.fixture(scope="module")
def good() -> Rendered:
    return _rendered(good_result())


def _text(html: str) -> str:
    """What a reader sees of the HTML: no tags, no data: URIs."""
    html = re.sub(r'src="data:[^"]+"', "", html)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return re.sub(r" ([,;.)])", r"\1", text)


# ------------------------------------------------------------------ localization context

@pytest.mark.slow    # over 0.25 s: the fast tier stays under a minute
def test_box_sections_put_predictions_first_then_each_model_beside_its_reference(loc):
    result = loc.result
    sections = loc.context["boxes"]
    assert [s["title"] for s in sections] == ["predictions.csv",
                                              "HW5Net (classification and box), retrained"]
    preds, net = sections
    assert preds["reference"] is None                      # no reference for a file
    assert preds["b"] is result.predictions.boxes
    assert net["b"] is result.training[0].scores.boxes
    boxes = result.training[0].scores.boxes
    assert net["count"] == 300
    assert net["hit_count"] == round(boxes.hits * 300)
    ref = net["reference"]
    assert ref["mean_iou"] == pytest.approx(0.65)          # mean of the band's seeds' IoUs
    assert ref["spread"] == pytest.approx(0.02)
    assert ref["seeds"] == 3
    assert ref["hits"] == pytest.approx(0.82)               # mean of the seeds' hit rates
    assert net["ratio"] == pytest.approx(boxes.mean_iou / 0.65)


def test_box_section_charts_are_the_histogram_and_the_examples(loc):
    net = loc.context["boxes"][1]
    histogram = _svg(net["histogram"])
    assert "IoU of the predicted box with the true box" in histogram
    assert "hit: IoU ≥ 0.5" in histogram
    assert "reference" in histogram                        # the reference's outline
    grid = _svg(net["examples"])
    assert grid.count("<image") == 8                       # one thumbnail per example
    assert "true box" in grid and "predicted box" in grid
    assert "IoU 0.82" in grid and "bus, said cat" in grid  # IoU and classes as titles


def test_the_retrained_model_line_and_the_predictions_line_give_their_mean_iou(loc):
    result, context = loc.result, loc.context
    iou = context["training"][0]["iou"]
    assert iou["mean_iou"] == result.training[0].scores.boxes.mean_iou
    assert iou["reference"]["mean_iou"] == pytest.approx(0.65)
    assert context["results"]["iou"] == result.predictions.boxes.mean_iou
    text = loc.text
    assert "Mean IoU of its boxes on the held-out images: 0.596, reference 0.650 ± 0.020 " \
           "over 3 seeds" in text
    assert "and its boxes a mean IoU of 0.651" in text


def test_examples_without_a_thumbnail_still_draw_their_boxes():
    example = BoxExample(index=3, label=1, predicted=1, box=[0.1, 0.2, 0.6, 0.7],
                         predicted_box=[0.15, 0.2, 0.6, 0.75], iou=0.8, thumbnail="")
    broken = replace(example, thumbnail="bm90IGEgcG5n")   # base64, but not a PNG
    svg = tasks.box_examples([example, broken], ["bus", "cat", "pizza"])
    assert "<image" not in svg
    assert svg.count("IoU 0.80") == 2 and "said" not in svg


@pytest.mark.slow    # over 0.25 s: the fast tier stays under a minute
def test_at_most_twelve_examples_are_drawn():
    boxes = localization_result().training[0].scores.boxes
    many = boxes.examples * 3                              # 24
    svg = tasks.box_examples(many, ["bus", "cat", "pizza"])
    assert svg.count("<image") == tasks.EXAMPLES_SHOWN == 12


@pytest.mark.slow    # over 0.25 s: the fast tier stays under a minute
def test_iou_histogram_is_deterministic_and_draws_the_reference_only_when_given():
    ious = [0.1, 0.55, 0.6, 0.62, 0.9]
    alone = tasks.iou_histogram(ious, 0.5, prefix="a")
    assert alone == tasks.iou_histogram(ious, 0.5, prefix="a")
    assert "reference" not in alone and "your mean 0.55" in alone
    both = tasks.iou_histogram(ious, 0.5, reference=[0.7, 0.8], prefix="a")
    assert "reference" in both


@pytest.mark.slow    # over 0.25 s: the fast tier stays under a minute
def test_training_curves_add_a_mean_iou_panel_only_for_a_localization_history():
    plain = [EpochStats(e, 1.0 / e, 0.5, 0.5, 0.01) for e in (1, 2, 3)]
    with_iou = [replace(h, val_iou=0.2 * h.epoch) for h in plain]
    assert "Mean IoU of the boxes" in charts.training_curves(with_iou, with_iou)
    classic = charts.training_curves(plain, plain)
    assert "Mean IoU" not in classic and "cross-entropy loss" in classic


# ------------------------------------------------------------------ heads in the model table

@pytest.mark.parametrize("expected, shape, ok", [
    ("[B, 4]", [1, 4], True),
    ("(B, 4)", [1, 4], True),            # as grader.grading.interface_checks writes it
    ("(B, 4)", [1, 5], False),
    ("[B, 4]", [1, 5], False),           # the typical mistake: a wrong head size
    ("[B, 4]", [1, 4, 1], False),
    ("[B, 4]", None, False),             # forward did not return it
    ("[1, 2]", [1, 2], True),            # HW8: LogSoftmax [1, 2], batch 1
    ("[T, 1, 300]", [12, 1, 300], True),
    ("any", [2, 1, 100], None),          # a hidden state: its shape is the student's choice
    ("", [1], None),
])
def test_head_ok(expected, shape, ok):
    assert head_ok(HeadShape("h", "box", shape, expected)) is ok


def test_heads_replace_the_output_shape_in_the_model_table(loc):
    text = loc.text
    assert "Outputs label (1, 3), box (1, 4) (batch of one image)" in text
    assert "6,843,011 in 62 parameter tensors" in text
    assert "Output shape" not in text


def test_a_head_of_the_wrong_size_is_marked_with_what_was_expected():
    result = localization_result()
    model = result.check.models[0]
    wrong = replace(model, heads=[model.heads[0], HeadShape("box", "box", [1, 5], "(B, 4)")])
    result = replace(result, check=replace(result.check, models=[wrong]), training=[],
                     reference=[], reference_bands=[], predictions=None)   # no charts
    html = report.render_student_html(result)
    assert '<span class="nowrap lost">box (1, 5)</span> <span class="muted">(expected ' \
           '(B, 4))</span>' in html
    assert '<span class="nowrap">label (1, 3)</span>' in html
    assert head_text(wrong.heads[1]) == "box (1, 5)"


@pytest.mark.slow    # over 0.25 s: the fast tier stays under a minute
def test_classification_shows_none_of_it(good):
    context = good.context
    assert context["boxes"] == [] and context["units"] == "images"
    assert all(m["heads"] == [] for m in context["models"])
    assert context["results"]["iou"] is None
    html = good.html
    assert 'id="boxes"' not in html and "IoU" not in html and "parameter tensors" not in html
    assert "Output shape" in html and "(batch of one image)" in html


# ------------------------------------------------------------------ sequence classification

@pytest.mark.slow    # over 0.25 s: the fast tier stays under a minute
def test_a_sequence_report_says_sequences_and_never_images(seq):
    assert seq.context["units"] == "sequences"
    text = seq.text
    assert "image" not in text.lower()
    for phrase in ("on the same 1,000 held-out sequences", "800 sequences/s",
                   "(batch of one sequence)", "FLOPs per sequence",
                   "830 of 1,000 sequences correct", "Sequences % of class"):
        assert phrase in text, phrase
    assert "No predictions.csv was scored" not in text     # the assignment asks for none


def test_two_class_names_reach_the_heatmap_and_the_tables(seq):
    context = seq.context
    heatmap = _svg(context["results"]["heatmap"])
    assert "negative" in heatmap and "positive" in heatmap
    assert [row["name"] for row in context["results"]["rows"]] == ["negative", "positive"]
    assert {(p["true"], p["predicted"]) for p in context["results"]["pairs"]} == {
        ("negative", "positive"), ("positive", "negative")}


def test_the_split_note_counts_sequences():
    result = replace(sequence_result(), public_fraction=0.3)
    assert "held-out sequences (1,000 sequences)" in exports.split_note(result)
    assert "images" not in exports.split_note(result)


# ------------------------------------------------------------------ summary, exports, terminal

def test_summary_leaderboard_has_iou_columns_only_for_localization():
    board = summary_context([localization_result(),
                             localization_result("nora_xywh", xywh=True)], [])["leaderboard"]
    assert board["iou_keys"] == ["net"] and board["has_predictions_iou"]
    rows = {row["student"]: row for row in board["rows"]}
    assert rows["ivan_hw5"]["ious"] == [localization_result().training[0].scores.boxes.mean_iou]
    assert rows["nora_xywh"]["predictions_iou"] < 0.3
    plain = summary_context(class_of(5), [])["leaderboard"]
    assert plain["iou_keys"] == [] and not plain["has_predictions_iou"]


def test_gradescope_leaderboard_adds_mean_iou_entries():
    result = localization_result()
    entries = {e["name"]: e for e in exports.leaderboard(result, ("accuracy", "params",
                                                                  "predictions"))}
    net = entries["HW5Net (classification and box) mean IoU"]
    assert net == {"name": "HW5Net (classification and box) mean IoU",
                   "value": round(result.training[0].scores.boxes.mean_iou, 4),
                   "order": "desc"}
    assert entries["predictions.csv mean IoU"]["value"] == round(
        result.predictions.boxes.mean_iou, 4)
    # before the due date of a split: the public part's figure, left out where there is none
    public = exports.leaderboard(result, ("accuracy", "predictions"), public=True)
    assert not any("IoU" in e["name"] for e in public)
    split = replace(result, predictions=replace(
        result.predictions, boxes=replace(result.predictions.boxes, public_mean_iou=0.5)))
    public = {e["name"]: e["value"] for e in exports.leaderboard(split, ("predictions",),
                                                                 public=True)}
    assert public["predictions.csv mean IoU"] == 0.5


@pytest.mark.slow    # over 0.25 s: the fast tier stays under a minute
def test_a_split_shows_the_public_parts_mean_iou_and_hits(loc):
    result = loc.result
    boxes = replace(result.predictions.boxes, public_mean_iou=0.5, public_hits=0.41)
    split = replace(result, predictions=replace(result.predictions, boxes=boxes),
                    training=[], reference=[], reference_bands=[])
    text = _text(pdf.render_template("student.html.j2", student_context(split)))
    assert "Public part mean IoU 0.500, hits 41.0% (the figures above are the private " \
           "part's)" in text
    assert "Public part" not in loc.text


@pytest.mark.parametrize("make", [good_result, tiny_imagenet_result, sequence_result])
def test_other_tasks_have_no_iou_in_their_exports(make):
    data = exports.gradescope_results(make())
    assert not any("IoU" in e["name"] for e in data["leaderboard"])


def test_terminal_table_has_iou_columns_only_when_some_result_has_boxes():
    table = evaluation_table([localization_result(),
                              localization_result("nora_xywh", xywh=True)])
    header, _, ivan, nora, reference, seeds = table.splitlines()[:6]
    assert header.split()[-4:] == ["net", "IoU", "pred.", "IoU"]
    assert ivan.split()[-2:] == ["0.596", "0.651"]
    assert nora.split()[-2:] == ["0.174", "0.225"]
    assert reference.split()[-1] == "0.650" and seeds.split()[-1] == "±0.020"
    assert "IoU" not in evaluation_table(class_of(5))
    assert "IoU" not in evaluation_table([sequence_result()])


def test_check_summary_shows_each_head_and_the_tensor_count():
    text = check_summary(localization_result().check)
    assert "6,843,011 params in 62 tensors, outputs label (1, 3), box (1, 4)" in text
    plain = check_summary(good_result().check)
    assert "output (1, 10)" in plain and "tensors" not in plain


def test_results_with_boxes_and_heads_survive_the_result_file(tmp_path):
    result = localization_result()
    results.save(result, tmp_path / "r.json")
    assert results.load(tmp_path / "r.json") == result


# ------------------------------------------------------------------ PDFs

def _pdf_text(path: Path) -> list[str]:
    return [re.sub(r"\s+", " ", page.extract_text()) for page in pypdf.PdfReader(path).pages]


def _pixels_near(path: Path, page: int, colour: str, tolerance: int = 20) -> int:
    """How many pixels of a page, rendered, are close to a colour ("#1a9850")."""
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        image = np.asarray(pdf[page].render(scale=1.0).to_pil().convert("RGB")).astype(int)
    finally:
        pdf.close()
    return int((np.abs(image - target).max(axis=-1) <= tolerance).sum())


@pytest.fixture(scope="module")
def task_pdfs(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("task-pdfs")
    return {"localization": report.write_student_pdf(localization_result(),
                                                     out / "localization.pdf"),
            "sequence": report.write_student_pdf(sequence_result(), out / "sequence.pdf")}


@pytest.mark.pdf
def test_localization_pdf_names_mean_iou_and_hit_rate(task_pdfs):
    text = " ".join(_pdf_text(task_pdfs["localization"]))
    for phrase in ("Boxes on the held-out split", "Mean IoU 0.651 over 300 held-out images",
                   "Hits 84.3% of the boxes have IoU ≥ 0.5 (253 of 300)",
                   ("Mean IoU 0.596 over 300 held-out images; reference 0.650 ± 0.020 over 3 "
                    "seeds"), "Outputs label (1, 3), box (1, 4)", "62 parameter tensors",
                   "Mean IoU of the boxes"):                # the curves' third panel
        assert phrase in text, phrase


@pytest.mark.pdf
def test_localization_pdf_draws_the_histogram_and_the_example_grid(task_pdfs):
    pages = _pdf_text(task_pdfs["localization"])
    grid = next(i for i, t in enumerate(pages) if "bus, said cat" in t)
    assert "IoU of the predicted box with the true box" in " ".join(pages)   # histogram axis
    assert "true box" in pages[grid] and "predicted box" in pages[grid]
    # the boxes are drawn: the true box's green is on the grid's page, not on the first one
    assert _pixels_near(task_pdfs["localization"], grid, tasks.TRUE_BOX) > 500
    assert _pixels_near(task_pdfs["localization"], 0, tasks.TRUE_BOX) < 20


@pytest.mark.pdf
def test_sequence_pdf_reads_as_sequences(task_pdfs):
    text = " ".join(_pdf_text(task_pdfs["sequence"]))
    assert "image" not in text.lower()
    for phrase in ("held-out sequences", "sequences/s", "negative", "positive",
                   "label (1, 2)"):
        assert phrase in text, phrase
