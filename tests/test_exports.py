"""Canvas gradebook CSV and Gradescope results.json."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest

from grader import results
from grader.report import exports
from tests.factories.results import (HW2_ITEMS, crashed_result, failing_result, good_result,
                                     split_result, tiny_imagenet_result)

HW2_COLUMNS = [f"ece661-hw2 {item_id}" for item_id, _, _ in HW2_ITEMS] + ["ece661-hw2 total"]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_gradebook_columns_follow_canvas_layout():
    header = exports.gradebook_header([good_result(), failing_result()])
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert header[5:] == HW2_COLUMNS


def test_gradebook_csv_values(tmp_path):
    path = exports.write_gradebook_csv([failing_result(), good_result(), crashed_result()],
                                       tmp_path / "gradebook.csv")
    rows = read_csv(path)
    assert rows[0][5:] == HW2_COLUMNS
    assert rows[1][0] == "Points Possible"
    assert rows[1][5:] == ["10", "10", "10", "10", "15", "15", "5", "25", "100"]
    by_student = {row[0]: row for row in rows[2:]}
    assert list(by_student) == ["alice_good", "bob_failing", "carol_crashed"]   # sorted
    assert by_student["bob_failing"][1:5] == ["", "", "", ""]     # IDs and section blank
    assert by_student["bob_failing"][5:] == ["7.5", "8.5", "5", "0", "0", "0", "0", "0", "21"]
    assert by_student["alice_good"][-1] == "100"
    assert by_student["carol_crashed"][5:] == ["0"] * 9
    assert not list(tmp_path.glob(".*.tmp"))


def test_gradebook_without_points_possible_row(tmp_path):
    rows = read_csv(exports.write_gradebook_csv([good_result()], tmp_path / "g.csv",
                                                points_possible=False))
    assert [row[0] for row in rows] == ["Student", "alice_good"]


def test_gradebook_rows_leave_another_assignment_blank():
    rows = {row["Student"]: row for row in exports.gradebook_rows([good_result(),
                                                                   tiny_imagenet_result()])}
    assert rows["dave_tiny"]["ece661-hw2 total"] == ""
    assert rows["dave_tiny"]["tiny-imagenet total"] == "73.5"
    assert rows["alice_good"]["tiny-imagenet model"] == ""


def test_gradebook_quotes_names_with_commas(tmp_path):
    rows = read_csv(exports.write_gradebook_csv([good_result('Doe, "Jo"')],
                                                tmp_path / "g.csv"))
    assert rows[2][0] == 'Doe, "Jo"'


@pytest.mark.parametrize("make", [good_result, failing_result, crashed_result,
                                  tiny_imagenet_result])
def test_gradescope_structure_and_scores(make, tmp_path):
    result = make()
    data = exports.gradescope_results(result)
    assert set(data) == {"score", "execution_time", "output", "output_format",
                         "test_output_format", "test_name_format", "visibility",
                         "stdout_visibility", "extra_data", "tests", "leaderboard"}
    assert isinstance(data["execution_time"], int)
    assert len(data["tests"]) == len(result.rubric)
    for test, item in zip(data["tests"], result.rubric):
        assert set(test) == {"name", "name_format", "number", "score", "max_score", "status",
                             "output", "output_format", "tags", "visibility", "extra_data"}
        assert (test["name"], test["score"], test["max_score"]) == (item.title, item.earned,
                                                                   item.possible)
        assert test["visibility"] == "visible"
    assert sum(t["score"] for t in data["tests"]) == pytest.approx(data["score"])
    assert data["score"] == pytest.approx(result.total)
    path = tmp_path / "results.json"
    results.write_json_atomic(path, data)                  # strict JSON: no NaN
    assert json.loads(path.read_text()) == data


def test_gradescope_output_carries_every_reason():
    data = exports.gradescope_results(failing_result())
    lab1 = data["tests"][0]
    assert "152,318 trainable parameters; expected 82,030 (-2.5)" in lab1["output"]
    full = exports.gradescope_results(good_result())["tests"][0]
    assert full["output"] == "Full marks."


def test_gradescope_output_names_a_crash():
    data = exports.gradescope_results(crashed_result())
    assert "memory limit of 4 GiB exceeded" in data["output"]
    assert data["score"] == 0


# ---- Gradescope files of `grader report` follow the spec; a split held-out set

def _visibility_spec(tmp_path):
    """ece661-hw2 with its held-out items shown after the due date, as a spec file."""
    from grader.spec import BUILTIN_DIR

    text = (BUILTIN_DIR / "ece661-hw2.toml").read_text() + (
        '\n[gradescope]\nvisibility = { predictions-accuracy = "after_due_date", '
        'lab3-accuracy = "hidden" }\nleaderboard = ["params"]\n')
    path = tmp_path / "ece661-hw2.toml"        # the result's assignment id: its file's stem
    path.write_text(text)
    return path


def test_display_spec_is_the_results_own_assignments(tmp_path):
    from grader import spec
    from grader.spec import GradescopeSpec

    task = spec.load(str(_visibility_spec(tmp_path)))
    good = good_result()
    assert exports.display_spec(good, task) == task.gradescope
    assert exports.display_spec(good) == spec.load("ece661-hw2").gradescope   # built-in
    # another assignment's spec is not the result's: the result's built-in spec, else defaults
    assert exports.display_spec(tiny_imagenet_result(), task) == spec.load(
        "tiny-imagenet").gradescope
    other = dataclasses.replace(good, assignment="a-course-of-its-own")
    assert exports.display_spec(other, task) == GradescopeSpec()


@pytest.mark.pdf
def test_report_gradescope_files_follow_the_specs_visibility(tmp_path):
    from click.testing import CliRunner

    from grader.cli import main

    spec_file = _visibility_spec(tmp_path)
    res = tmp_path / "results"
    res.mkdir()
    results.save(good_result(), res / "alice_good.json")
    out = tmp_path / "reports"
    done = CliRunner().invoke(main, ["report", str(res), "--out", str(out), "-a",
                                     str(spec_file)])
    assert done.exit_code == 0, done.output
    data = json.loads((out / "gradescope" / "alice_good.json").read_text())
    vis = {t["tags"][0]: t["visibility"] for t in data["tests"]}
    assert vis.pop("predictions-accuracy") == "after_due_date"
    assert vis.pop("lab3-accuracy") == "hidden"
    assert set(vis.values()) == {"visible"}
    assert [e["order"] for e in data["leaderboard"]] == ["asc"] * 3    # params only
    assert data["score"] == good_result().total                        # the instructor's view


def test_report_export_of_a_split_is_the_private_part():
    """`grader report`'s files are the final view: the private part's points, one test per
    item, as Gradescope shows them after the due date."""
    result = split_result()
    data = exports.gradescope_results(result)
    assert data["score"] == pytest.approx(result.total) == 97
    assert len(data["tests"]) == len(result.rubric)
    names = [t["name"] for t in data["tests"]]
    assert names[-1].endswith("(private 70%)") and not names[0].endswith("%)")
    board = {e["name"]: e["value"] for e in data["leaderboard"]}
    assert board["predictions.csv accuracy (%)"] == round(100 * result.predictions.accuracy, 2)


def test_split_note_names_the_private_part_and_its_size():
    result = split_result()
    images = sum(map(sum, result.predictions.confusion))
    note = exports.split_note(result)
    assert note.startswith("Held-out scores are on the private 70% of the held-out images")
    assert f"({images:,} images)" in note and "students see the public 30%" in note
    fewer = dataclasses.replace(result, training=[dataclasses.replace(
        t, scores=dataclasses.replace(t.scores, confusion=[[140]])) for t in result.training])
    assert (f"({images:,} images for predictions.csv, 140 images for the retrained models)"
            in exports.split_note(fewer))
    assert exports.split_note(good_result()) == ""


def test_the_evaluation_table_says_which_part_it_shows():
    from grader.cli.terminal import evaluation_table

    table = evaluation_table([good_result(), split_result()])
    assert table.splitlines()[-1] == exports.split_note(split_result())
    assert "Held-out scores" not in evaluation_table([good_result()])


def test_the_student_report_says_which_part_it_shows():
    from grader.report.context import student_context

    notes = [a["text"] for a in student_context(split_result())["alerts"]
             if a["level"] == "note"]
    assert notes == [exports.split_note(split_result())]
    assert not [a for a in student_context(good_result())["alerts"] if a["level"] == "note"]
