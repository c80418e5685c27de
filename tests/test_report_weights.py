"""The student's PDF for a model graded from its own checkpoint (ECE 661 HW4, pruning): the
"Your weights" section, the per-layer sparsity chart, and the neutral note when predictions.csv
does not come from the weights handed in.

Results are built by tests/factories/results.py (pruned_result); PDFs are rendered once per
module and read back as text and as a rendered page.
"""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest

from grader.report import charts
from grader.report import render as report
from grader.report import weights as weights_view
from grader.report.context import student_context
from grader.results import WeightsReport
from grader.spec import load
from tests.factories.results import good_result, pruned_result
from tests.test_report import ink_fraction, pdf_text, squash

NOTE = "does not match the predictions of the weights you handed in"


def _svg_text(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]+)</text>", svg) + re.findall(r"<!-- (.+?) -->", svg)


def test_sparsity_chart_has_a_bar_per_layer_and_the_overall_line():
    names = ["head_conv.0.conv", "body_op.0.conv1.0.conv", "final_fc.linear"]
    svg = charts.sparsity_bars(names, [0.25, 0.75, 0.5], linear=[False, False, True],
                               overall=0.7, prefix="t")
    text = " ".join(_svg_text(svg))
    for name in names:
        assert name in text
    assert "25%" in text and "75%" in text and "50%" in text
    assert "overall 70.0%" in text and "linear" in text and "convolution" in text
    assert svg == charts.sparsity_bars(names, [0.25, 0.75, 0.5], linear=[False, False, True],
                                       overall=0.7, prefix="t")      # deterministic
    assert 'id="t-' in svg


def test_sparsity_chart_keeps_the_end_of_long_names_and_checks_its_input():
    long = "module.encoder.stage4.block12.branch2.depthwise.conv"
    svg = charts.sparsity_bars([long], [0.5])
    assert "…" + long[-33:] in " ".join(_svg_text(svg))
    with pytest.raises(ValueError, match="one per name"):
        charts.sparsity_bars(["a", "b"], [0.5])


def test_context_of_pruned_weights_that_match_predictions():
    ctx = student_context(pruned_result())
    (section,) = ctx["weights"]
    assert section["w"].file == "net_after_global_iterative_prune.pt"
    assert section["note"] is None and section["agrees"]
    assert section["chart"]["src"].startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(section["chart"]["src"].split(",", 1)[1]).decode()
    assert "body_op.8.conv2.0.conv" in svg and "final_fc.linear" in svg
    assert section["total"] == 270_896          # the lab's ResNet-20: conv and linear weights
    assert not any(NOTE in a["text"] for a in ctx["alerts"])


def test_low_agreement_is_a_neutral_note_with_the_figures():
    ctx = student_context(pruned_result(agreement=0.123, compared=2000))
    (section,) = ctx["weights"]
    assert section["note"] == ("Your predictions.csv does not match the predictions of the "
                               "weights you handed in (agreement 12.3% on 2,000 held-out "
                               "images).")
    notes = [a for a in ctx["alerts"] if NOTE in a["text"]]
    assert len(notes) == 1 and notes[0]["level"] == "note"      # a note, not an error
    assert notes[0]["text"].startswith("ResNet-20, pruned: ")


def test_agreement_threshold_comes_from_the_spec():
    """The built-in spec's [weights] agreement (0.95) decides; a spec given for the same
    assignment overrides it."""
    near = pruned_result(agreement=0.94)
    assert weights_view.agreement_threshold(near) == load("ece661-hw4-prune").weights.agreement
    assert student_context(near)["weights"][0]["note"] is not None
    spec = load("ece661-hw4-prune")
    lenient = dataclasses.replace(spec, weights=dataclasses.replace(spec.weights,
                                                                    agreement=0.9))
    assert student_context(near, assignment=lenient)["weights"][0]["note"] is None


def _with_notes(result, notes):
    model = result.check.models[0]
    model = dataclasses.replace(model, weights=dataclasses.replace(model.weights, notes=notes))
    return dataclasses.replace(result, check=dataclasses.replace(result.check, models=[model]))


EVALUATE_NOTE = ("your predictions.csv does not match the predictions of the weights you handed "
                 "in: they agree on 94.0% of the 10,000 held-out images compared (expected at "
                 "least 97.0%)")


@pytest.mark.slow    # over 1 s (a whole report): keeps the fast tier under a minute
def test_for_a_spec_the_report_does_not_know_evaluate_s_note_decides():
    """A result of the instructor's own spec file: the threshold is not known here, so the
    verdict grader evaluate left as a note on the weights decides, and is worded once."""
    other = dataclasses.replace(pruned_result(agreement=0.94), assignment="my-course-hw4")
    assert weights_view.agreement_threshold(other) is None
    assert student_context(other)["weights"][0]["note"] is None
    noted = _with_notes(other, ["module. prefixes removed (saved from nn.DataParallel)",
                                EVALUATE_NOTE])
    (section,) = student_context(noted)["weights"]
    assert section["note"] is not None and "agreement 94.0% on 10,000" in section["note"]
    assert section["notes"] == ["module. prefixes removed (saved from nn.DataParallel)"]
    html = report.render_student_html(noted)
    assert "they agree on 94.0%" not in html                 # not twice in other words
    assert "module. prefixes removed" in html


def test_a_checkpoint_that_did_not_load_lists_its_problems_and_no_chart():
    bad = WeightsReport(file="resnet20_pruned.pth", loaded=False, format="state_dict",
                        bytes=1_139_000,
                        problems=["body_op.0.conv1.0.conv.weight: checkpoint [16, 3, 3, 3], "
                                  "model [16, 16, 3, 3]"])
    result = pruned_result()
    model = dataclasses.replace(result.check.models[0], weights=bad)
    result = dataclasses.replace(result, check=dataclasses.replace(result.check,
                                                                    models=[model]))
    html = report.render_student_html(result)
    assert "not loaded" in html
    assert "checkpoint [16, 3, 3, 3], model [16, 16, 3, 3]" in html
    assert 'data-chart="sparsity-resnet20"' not in html
    assert NOTE not in html


@pytest.mark.slow    # over 1 s (a whole report): keeps the fast tier under a minute
def test_a_report_without_weights_has_no_weights_section():
    assert 'id="weights"' not in report.render_student_html(good_result())
    assert student_context(good_result())["weights"] == []


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("weights-pdfs")
    return {"match": report.write_student_pdf(pruned_result(), out / "match.pdf"),
            "mismatch": report.write_student_pdf(
                pruned_result("mona_other_weights", agreement=0.123, compared=2000),
                out / "mismatch.pdf")}


@pytest.mark.pdf
def test_pdf_shows_the_weights_and_their_chart(pdfs):
    text = squash(pdf_text(pdfs["match"]))
    assert "Your weights" in text
    assert "net_after_global_iterative_prune.pt" in text
    assert "69.7% of the weights are zero" in text            # the factory's overall figure
    assert "86.1%" in text                                     # the weights' accuracy
    assert "99.9% of 10,000 held-out images" in text
    assert "weights that are exactly zero" in text             # the chart's axis, vector text
    assert "body_op.8.conv2.0.conv" in text
    assert NOTE not in text


@pytest.mark.pdf
def test_pdf_notes_predictions_from_other_weights(pdfs):
    import pypdf

    sentence = ("your predictions.csv does not match the predictions of the weights you handed "
                "in (agreement 12.3% on 2,000 held-out images)")
    first_page = squash(pypdf.PdfReader(pdfs["mismatch"]).pages[0].extract_text()).lower()
    assert sentence in first_page                       # the note at the top of the report
    assert squash(pdf_text(pdfs["mismatch"])).lower().count(sentence) == 2   # and by the weights


@pytest.mark.pdf
def test_pdf_page_with_the_chart_is_drawn(pdfs):
    import pypdf

    reader = pypdf.PdfReader(pdfs["match"])
    page = next(i for i, p in enumerate(reader.pages) if "Your weights" in p.extract_text())
    assert ink_fraction(pdfs["match"], page) > 0.03
    assert ink_fraction(pdfs["match"], 0) > 0.03
