"""predictions.csv validation and reading the held-out labels (grader/grading/predictions.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from grader.grading import predictions
from grader.errors import InputError
from grader.grading.predictions import MAX_ERRORS, read_labels, validate_predictions
from grader.spec import CIFAR10_CLASSES, PredictionsSpec

INDEX = PredictionsSpec(rows=3, labels="index")
NAME = PredictionsSpec(rows=3, labels="name")
EITHER = PredictionsSpec(rows=3, labels="either")
TEN = PredictionsSpec(rows=10, labels="index")
# ECE 661's own format: its sample_predictions.csv and save notebook write `Id,Label`
COURSE = PredictionsSpec(rows=3, labels="either", id_column="Id", label_column="Label")
ALIASED = PredictionsSpec(rows=3, id_column="Id", label_column="Label",
                          id_aliases=("image_id",), label_aliases=("Class", "predicted label"))
DLSTUDIO_CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture
def write(tmp_path):
    """write(data: bytes) -> path of a predictions.csv holding exactly those bytes."""
    def write(data: bytes, name: str = "predictions.csv"):
        path = tmp_path / name
        path.write_bytes(data)
        return path
    return write


def big_csv(rows: int = 10_000, label=lambda i: str(i % 10)) -> bytes:
    return ("id,label\n" + "".join(f"{i},{label(i)}\n" for i in range(rows))).encode()


# fault, spec, bytes written, message expected (substring), its line (None: whole file)
MALFORMED = [
    ("wrong header", INDEX, b"ID,Category\n0,3\n1,0\n2,9\n",
     "header is 'ID,Category'; expected 'id,label'", 1),
    ("course header, wrong label column", COURSE, b"Id,Category\r\n0,3\r\n1,0\r\n2,9\r\n",
     "header is 'Id,Category'; expected 'Id,Label'", 1),
    ("alias is not named in the message", ALIASED, b"ImageId,Prediction\n0,3\n1,0\n2,9\n",
     "header is 'ImageId,Prediction'; expected 'Id,Label'", 1),
    ("header columns swapped", INDEX, b"label,id\n3,0\n0,1\n9,2\n",
     "(the columns are in the wrong order)", 1),
    ("header missing", INDEX, b"0,3\n1,0\n2,9\n",
     "header is '0,3'; expected 'id,label' (the first line looks like data: the header line "
     "is missing)", 1),
    ("semicolon separated", INDEX, b"id;label\n0;3\n1;0\n2;9\n",
     "(fields must be separated by commas)", 1),
    ("semicolon rows", INDEX, b"id;label\n0;3\n1;0\n2;9\n",
     "1 field ('1;0'); expected 2: id,label", 3),
    ("pandas index column", INDEX, b",id,label\n0,0,3\n1,1,0\n2,2,9\n",
     "header is ',id,label'; expected 'id,label' (an extra first column: write it with "
     "to_csv(..., index=False))", 1),
    ("missing column in header", INDEX, b"id\n0\n1\n2\n",
     "header is 'id'; expected 'id,label'", 1),
    ("missing column in a row", INDEX, b"id,label\n0,3\n1\n2,9\n",
     "1 field ('1'); expected 2: id,label", 3),
    ("extra column", INDEX, b"id,label\n0,3\n1,0,5\n2,9\n",
     "3 fields ('1,0,5'); expected 2: id,label", 3),
    ("trailing comma", INDEX, b"id,label\n0,3\n1,0,\n2,9\n",
     "3 fields ('1,0,'); expected 2: id,label", 3),
    ("non-integer id", INDEX, b"id,label\n0,3\nx1,0\n2,9\n",
     "id 'x1' is not an integer; expected an integer 0 to 2", 3),
    ("float id", INDEX, b"id,label\n0,3\n1.0,0\n2,9\n",
     "id '1.0' is not an integer; expected an integer 0 to 2", 3),
    ("duplicate id", INDEX, b"id,label\n0,3\n1,0\n1,9\n",
     "id 1 appears again (first on line 3); expected each id exactly once", 4),
    ("duplicate id leaves one missing", INDEX, b"id,label\n0,3\n1,0\n1,9\n",
     "id 2 is missing; expected each id 0 to 2 exactly once", None),
    ("two ids missing", TEN, b"id,label\n" + b"".join(b"%d,1\n" % i for i in range(8)),
     "ids 8 and 9 are missing; expected each id 0 to 9 exactly once", None),
    ("many ids missing", TEN, b"id,label\n0,1\n1,1\n2,1\n4,1\n",
     "ids 3, 5, 6, 7, 8 and 1 more are missing; expected each id 0 to 9 exactly once", None),
    ("too few rows", TEN, b"id,label\n0,1\n1,1\n2,1\n4,1\n",
     "4 data rows; expected 10 (one per held-out image, ids 0 to 9)", None),
    ("id out of range", INDEX, b"id,label\n0,3\n1,0\n3,9\n",
     "id 3 is out of range; expected an integer 0 to 2", 4),
    ("negative id", INDEX, b"id,label\n-1,3\n1,0\n2,9\n",
     "id -1 is out of range; expected an integer 0 to 2", 2),
    ("too many rows: the extra id", INDEX, b"id,label\n0,3\n1,0\n2,9\n3,1\n",
     "id 3 is out of range; expected an integer 0 to 2", 5),
    ("too many rows: the count", INDEX, b"id,label\n0,3\n1,0\n2,9\n3,1\n",
     "4 data rows; expected 3", None),
    ("label out of range", INDEX, b"id,label\n0,3\n1,10\n2,9\n",
     "label 10 is out of range; expected a class index 0 to 9", 3),
    ("negative label", INDEX, b"id,label\n0,3\n1,0\n2,-1\n",
     "label -1 is out of range; expected a class index 0 to 9", 4),
    ("float label", INDEX, b"id,label\n0,3.0\n1,0\n2,9\n",
     "label '3.0' is not an integer; expected a class index 0 to 9", 2),
    ("name where an index is wanted", INDEX, b"id,label\n0,cat\n1,0\n2,9\n",
     "label 'cat' is not an integer; expected a class index 0 to 9 (this assignment wants "
     "indexes, not names)", 2),
    ("label not a class name", NAME, b"id,label\n0,cat\n1,kitten\n2,dog\n",
     "label 'kitten' is not a class name; expected a class name (airplane, automobile, bird",
     3),
    ("index where a name is wanted", NAME, b"id,label\n0,cat\n1,3\n2,dog\n",
     "label '3' is not a class name", 3),
    ("label neither index nor name", EITHER, b"id,label\n0,cat\n1,3\n2,kitty\n",
     "label 'kitty' is neither a class index nor a class name; expected a class index 0 to 9 "
     "or a class name (airplane", 4),
    ("empty label", INDEX, b"id,label\n0,3\n1,\n2,9\n",
     "label '' is not an integer", 3),
    ("blank line in the middle", INDEX, b"id,label\n0,3\n\n1,0\n2,9\n",
     "blank line; expected 'id,label' values (blank lines are allowed only at the end)", 3),
    ("empty file", INDEX, b"",
     "file is empty; expected a header 'id,label' and 3 rows", None),
    ("only blank lines", INDEX, b"\n \r\n\n",
     "file has only blank lines; expected a header 'id,label' and 3 rows", None),
    ("only header", INDEX, b"id,label\n",
     "no data rows; expected 3 (one per held-out image, ids 0 to 2)", None),
    ("binary file", INDEX, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
     "binary file (NUL bytes); expected a UTF-8 CSV text file", 3),
    ("UTF-16 file", INDEX, "id,label\n0,3\n1,0\n2,9\n".encode("utf-16"),
     "file is UTF-16 text; expected UTF-8", None),
    ("Excel workbook", INDEX, b"PK\x03\x04\x14\x00\x06\x00\x08\x00",
     "file is a ZIP archive (an Excel workbook?)", None),
    ("non-UTF-8 bytes", INDEX, b"id,label\n0,3\n1,caf\xe9\n2,9\n",
     "not UTF-8 text (byte 0xe9); expected a UTF-8 CSV text file", 3),
    ("control characters echoed escaped", INDEX, b"id,label\n0,3\n\x1b[2J1,0\n2,9\n",
     "id '\\x1b[2J1' is not an integer", 3),
    ("long content shortened", INDEX, b"id,label\n0,3\n" + b"9" * 500 + b",0\n2,9\n",
     "id '" + "9" * 37 + "...' is out of range", 3),
    ("label longer than int() converts", INDEX, b"id,label\n0,3\n1," + b"7" * 5000 + b"\n2,9\n",
     "label '" + "7" * 37 + "...' is out of range; expected a class index 0 to 9", 3),
]


@pytest.mark.parametrize("fault, spec, data, message, line", MALFORMED,
                         ids=[row[0] for row in MALFORMED])
def test_malformed_file_reports_fault_with_line(write, fault, spec, data, message, line):
    report = validate_predictions(write(data), spec, CIFAR10_CLASSES)
    assert report.present and not report.valid and report.labels is None
    found = [(e.line, e.message) for e in report.errors]
    assert any(e.line == line and message in e.message for e in report.errors), found


# what, spec, class names, bytes written, labels expected in id order
VALID = [
    ("index labels", INDEX, CIFAR10_CLASSES, b"id,label\n0,3\n1,0\n2,9\n", [3, 0, 9]),
    ("rows in any order", INDEX, CIFAR10_CLASSES, b"id,label\n2,9\n0,3\n1,0\n", [3, 0, 9]),
    ("no final newline", INDEX, CIFAR10_CLASSES, b"id,label\n0,3\n1,0\n2,9", [3, 0, 9]),
    ("UTF-8 BOM", INDEX, CIFAR10_CLASSES, b"\xef\xbb\xbfid,label\n0,3\n1,0\n2,9\n", [3, 0, 9]),
    ("CRLF", INDEX, CIFAR10_CLASSES, b"id,label\r\n0,3\r\n1,0\r\n2,9\r\n", [3, 0, 9]),
    ("old Mac CR", INDEX, CIFAR10_CLASSES, b"id,label\r0,3\r1,0\r2,9\r", [3, 0, 9]),
    ("trailing blank lines", INDEX, CIFAR10_CLASSES, b"id,label\n0,3\n1,0\n2,9\n\n  \r\n\n",
     [3, 0, 9]),
    ("quoted fields", INDEX, CIFAR10_CLASSES, b'"id","label"\n"0","3"\n"1","0"\n"2","9"\n',
     [3, 0, 9]),
    ("spaces around fields", INDEX, CIFAR10_CLASSES, b"id, label\n0, 3\n 1 ,0\n2,9 \n",
     [3, 0, 9]),
    ("leading zeros", INDEX, CIFAR10_CLASSES, b"id,label\n00,03\n1,0\n2,9\n", [3, 0, 9]),
    ("name labels, any case", NAME, CIFAR10_CLASSES, b"id,label\n0,cat\n1,AIRPLANE\n2,Truck\n",
     [3, 0, 9]),
    ("CIFAR aliases for torchvision names", NAME, CIFAR10_CLASSES,
     b"id,label\n0,plane\n1,car\n2,aeroplane\n", [0, 1, 0]),
    ("CIFAR aliases for DLStudio names", NAME, DLSTUDIO_CLASSES,
     b"id,label\n0,airplane\n1,automobile\n2,car\n", [0, 1, 1]),
    ("either, mixed", EITHER, CIFAR10_CLASSES, b"id,label\n0,cat\n1,0\n2,truck\n", [3, 0, 9]),
    ("ids from 1", PredictionsSpec(rows=3, first_id=1), CIFAR10_CLASSES,
     b"id,label\n1,3\n2,0\n3,9\n", [3, 0, 9]),
    ("custom column names", PredictionsSpec(rows=2, id_column="ImageId", label_column="Class"),
     CIFAR10_CLASSES, b"ImageId,Class\n0,4\n1,5\n", [4, 5]),
    # the course's sample_predictions.csv as students hand it back: Windows line ends, Excel BOM
    ("course's Id,Label with CRLF", COURSE, CIFAR10_CLASSES,
     b"Id,Label\r\n0,3\r\n1,0\r\n2,9\r\n", [3, 0, 9]),
    ("course's Id,Label with BOM and CRLF", COURSE, CIFAR10_CLASSES,
     b"\xef\xbb\xbfId,Label\r\n0,cat\r\n1,airplane\r\n2,truck\r\n", [3, 0, 9]),
    ("lower-case header for the course's spec", COURSE, CIFAR10_CLASSES,
     b"id,label\n0,3\n1,0\n2,9\n", [3, 0, 9]),
    ("header with spaces and odd case", COURSE, CIFAR10_CLASSES,
     b" id , LABEL \n0,3\n1,0\n2,9\n", [3, 0, 9]),
    ("quoted header with spaces", COURSE, CIFAR10_CLASSES,
     b'" Id "," Label "\r\n0,3\r\n1,0\r\n2,9\r\n', [3, 0, 9]),
    ("spec aliases, any case", ALIASED, CIFAR10_CLASSES,
     b"Image_ID, Predicted Label\n0,3\n1,0\n2,9\n", [3, 0, 9]),
    ("spec name still accepted beside aliases", ALIASED, CIFAR10_CLASSES,
     b"id,class\n0,3\n1,0\n2,9\n", [3, 0, 9]),
]


@pytest.mark.parametrize("what, spec, names, data, labels", VALID, ids=[r[0] for r in VALID])
def test_valid_file_gives_labels_in_id_order(write, what, spec, names, data, labels):
    report = validate_predictions(write(data), spec, names)
    assert report.errors == []
    assert report.present and report.valid
    assert report.rows == spec.rows
    assert report.labels == labels


def test_missing_file_is_not_present(tmp_path):
    report = validate_predictions(tmp_path / "predictions.csv", INDEX, CIFAR10_CLASSES)
    assert not report.present and not report.valid
    assert report.errors[0].message.startswith("predictions.csv not found; expected a CSV file "
                                               "with a header 'id,label' and 3 rows")


def test_folder_is_refused(tmp_path):
    (tmp_path / "predictions.csv").mkdir()
    report = validate_predictions(tmp_path / "predictions.csv", INDEX, CIFAR10_CLASSES)
    assert report.present and not report.valid
    assert "is not a regular file" in report.errors[0].message


def test_symlink_is_refused_unless_followed(write, tmp_path):
    secret = write(b"id,label\n0,3\n1,0\n2,9\n", "instructor-only.csv")
    link = tmp_path / "predictions.csv"
    link.symlink_to(secret)
    report = validate_predictions(link, INDEX, CIFAR10_CLASSES)
    assert not report.valid
    assert report.errors[0].message == "is a symbolic link; expected a regular file"
    assert validate_predictions(link, INDEX, CIFAR10_CLASSES, follow_symlinks=True).valid


def test_huge_file_refused_without_reading(tmp_path, monkeypatch):
    path = tmp_path / "predictions.csv"
    size = 2**30 + 5                       # sparse: instant to make, costs no disk
    with open(path, "wb") as fh:
        fh.truncate(size)

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was opened")
    monkeypatch.setattr(predictions, "open", no_reading, raising=False)
    report = validate_predictions(path, PredictionsSpec(), CIFAR10_CLASSES)
    assert report.present and not report.valid
    assert report.errors == [predictions.PredictionError(
        None, "file is 1,073,741,829 bytes (1,024 MiB), refused without reading it; expected "
              "at most 8 MiB for 10,000 rows")]


def test_file_just_under_the_limit_is_read(write):
    data = b"id,label\n0,3\n1,0\n2,9\n"
    spec = PredictionsSpec(rows=3, max_bytes=len(data))
    assert validate_predictions(write(data), spec, CIFAR10_CLASSES).valid
    spec = PredictionsSpec(rows=3, max_bytes=len(data) - 1)
    assert "refused without reading" in validate_predictions(
        write(data), spec, CIFAR10_CLASSES).errors[0].message


def test_non_utf8_past_the_sniffed_head_names_its_line(write):
    data = big_csv().replace(b"\n5000,0\n", b"\n5000,\xff\n")
    report = validate_predictions(write(data), PredictionsSpec(), CIFAR10_CLASSES)
    assert [(e.line, e.message) for e in report.errors] == [
        (5002, "not UTF-8 text (byte 0xff); expected a UTF-8 CSV text file")]


def test_valid_10000_rows_fast(write, monkeypatch):
    """Bounded work, not a stopwatch: one open, one split of each line, one parse of each id
    and label (no csv.reader for unquoted lines)."""
    path = write(big_csv())
    calls = dict.fromkeys(("open", "_fields", "csv.reader", "id_slot", "label"), 0)

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper
    monkeypatch.setattr(predictions, "open", counted("open", open), raising=False)
    monkeypatch.setattr(predictions, "_fields", counted("_fields", predictions._fields))
    monkeypatch.setattr(predictions.csv, "reader", counted("csv.reader", predictions.csv.reader))
    for method in ("id_slot", "label"):
        monkeypatch.setattr(predictions._Parser, method,
                            counted(method, getattr(predictions._Parser, method)))
    report = validate_predictions(path, PredictionsSpec(labels="either"), CIFAR10_CLASSES)
    assert report.valid and report.rows == 10_000
    assert report.labels == [i % 10 for i in range(10_000)]
    assert calls == {"open": 1, "_fields": 10_001, "csv.reader": 0, "id_slot": 10_000,
                     "label": 10_000}


def test_garbage_10000_rows_gives_short_report_showing_each_kind(write):
    # every row has a bad label, and every 1,000th a duplicate id: the labels must not hide it
    rows = "".join(f"{i - (i % 1000 == 999)},kitten\n" for i in range(10_000))
    report = validate_predictions(write(("id,label\n" + rows).encode()),
                                  PredictionsSpec(), CIFAR10_CLASSES)
    assert not report.valid
    assert len(report.errors) <= MAX_ERRORS + 1
    messages = [e.message for e in report.errors]
    assert any(m.startswith("ids 999, 1999, 2999, 3999, 4999 and 5 more are missing")
               for m in messages)
    assert any(m.startswith("id 998 appears again (first on line 1000)") for m in messages)
    assert any(m.startswith("label 'kitten' is not an integer") for m in messages)
    assert report.errors[-1] == predictions.PredictionError(
        None, "10,000 more faults not shown (label not an integer: 9,995; duplicate id: 5)")


def test_errors_listed_whole_file_first_then_by_line(write):
    report = validate_predictions(write(b"id,label\n0,3\n1,x\n1,11\n"), INDEX, CIFAR10_CLASSES)
    assert [e.line for e in report.errors] == [None, 3, 4, 4]


def test_read_labels_returns_int64_in_id_order(write):
    labels = read_labels(write(b"id,label\n1,cat\n0,9\n2,ship\n"), EITHER, CIFAR10_CLASSES)
    assert labels.dtype == np.int64
    assert labels.tolist() == [9, 3, 8]


def test_read_labels_malformed_raises_input_error_with_file_and_line(write):
    path = write(b"id,label\n0,3\n1,12\n2,x\n", "test_labels.csv")
    with pytest.raises(InputError) as info:
        read_labels(path, INDEX, CIFAR10_CLASSES)
    assert info.value.path == str(path) and info.value.line == 3
    assert str(info.value) == (f"{path}:3: malformed held-out labels file: label 12 is out of "
                               "range; expected a class index 0 to 9 (1 more fault after it)")


def test_read_labels_counts_faults_beyond_the_cap(write):
    path = write(big_csv(label=lambda i: "x"))
    with pytest.raises(InputError, match=r"\(9,999 more faults after it\)"):
        read_labels(path, PredictionsSpec(), CIFAR10_CLASSES)


def test_read_labels_missing_file(tmp_path):
    with pytest.raises(InputError) as info:
        read_labels(tmp_path / "labels.csv", INDEX, CIFAR10_CLASSES)
    assert info.value.path == str(tmp_path / "labels.csv") and info.value.line is None
    assert info.value.message.startswith("held-out labels file not found; expected a CSV file "
                                         "with a header 'id,label' and 3 rows")


def test_read_labels_follows_symlinks(write, tmp_path):
    target = write(b"id,label\n0,3\n1,0\n2,9\n", "real.csv")
    os.symlink(target, tmp_path / "labels.csv")
    assert read_labels(tmp_path / "labels.csv", INDEX, CIFAR10_CLASSES).tolist() == [3, 0, 9]


def test_binary_file_refused_after_reading_only_its_head(write, monkeypatch):
    path = write(b"\x00" * 4 * 2**20)
    read_sizes = []
    real_open = open

    def counting_open(*args, **kwargs):
        fh = real_open(*args, **kwargs)
        real_read = fh.read

        def read(size=-1):
            data = real_read(size)
            read_sizes.append(len(data))
            return data
        fh.read = read
        return fh
    monkeypatch.setattr(predictions, "open", counting_open, raising=False)
    report = validate_predictions(path, PredictionsSpec(), CIFAR10_CLASSES)
    assert report.errors[0].message == "binary file (NUL bytes); expected a UTF-8 CSV text file"
    assert sum(read_sizes) <= predictions.SNIFF_BYTES


def test_named_pipe_refused_without_blocking(tmp_path):
    import threading

    fifo = tmp_path / "predictions.csv"
    os.mkfifo(fifo)
    outcome: dict = {}

    def validate() -> None:
        try:
            outcome["report"] = validate_predictions(fifo, INDEX, CIFAR10_CLASSES)
        except BaseException as exc:  # re-raised below, in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=validate, daemon=True)
    worker.start()
    worker.join(timeout=30)           # a bound on a hang, not a timing test
    if worker.is_alive():
        try:                          # a writer ends the blocked open, so the thread ends too
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        pytest.fail("validating a named pipe blocked on opening it")
    if "error" in outcome:
        raise outcome["error"]
    report = outcome["report"]
    assert report.present and not report.valid
    assert "is not a regular file" in report.errors[0].message


def test_ece661_builtin_spec_takes_the_courses_own_header(write):
    """ECE 661's sample_predictions.csv says `Id,Label`: the built-in spec takes that file as
    students save it (CRLF, names or indexes) and names that header, not another, when wrong."""
    from grader.spec import load

    spec = load("ece661-hw2").predictions
    assert (spec.id_column, spec.label_column) == ("Id", "Label")
    rows = "".join(f"{i},{i % 10}\r\n" for i in range(spec.rows))
    report = validate_predictions(write(("Id,Label\r\n" + rows).encode()), spec, CIFAR10_CLASSES)
    assert report.valid and report.rows == 10_000 and report.labels[:3] == [0, 1, 2]
    bad = validate_predictions(write(("ID,Category\r\n" + rows).encode()), spec, CIFAR10_CLASSES)
    assert [(e.line, e.message) for e in bad.errors] == [
        (1, "header is 'ID,Category'; expected 'Id,Label'")]


def test_spec_column_aliases_are_read_from_toml(tmp_path):
    from grader.errors import SpecError
    from grader.spec import load

    base = (Path(__file__).parent.parent / "grader" / "spec" / "assignments" / "ece661-hw2.toml")
    text = base.read_text().replace('label_column = "Label"',
                                    'label_column = "Label"\nlabel_aliases = ["Category"]')
    (tmp_path / "hw.toml").write_text(text)
    assert load(str(tmp_path / "hw.toml")).predictions.label_aliases == ("Category",)
    (tmp_path / "bad.toml").write_text(text.replace('["Category"]', '"Category"'))
    with pytest.raises(SpecError, match="predictions.label_aliases.*a list of strings"):
        load(str(tmp_path / "bad.toml"))


# ---- the public/private split of the held-out set ([held_out]; issue 22, item 3) -----------

def test_public_mask_is_a_fixed_split_of_the_asked_size():
    mask = predictions.public_mask(10_000, 0.3, seed=0)
    assert mask.dtype == np.bool_ and mask.shape == (10_000,) and mask.sum() == 3_000
    assert np.array_equal(mask, predictions.public_mask(10_000, 0.3, seed=0))   # every run
    other = predictions.public_mask(10_000, 0.3, seed=1)
    assert other.sum() == 3_000 and 0.2 < (mask & other).sum() / 3_000 < 0.4     # independent
    # spread over the ids (not a block): every tenth of the set is about 30% public
    assert all(0.25 < part.mean() < 0.35 for part in np.split(mask, 10))
    assert predictions.public_mask(7, 0.5, seed=0).sum() == 4           # round(3.5) is 4
    assert not predictions.public_mask(100, 0.0, seed=0).any()
    assert predictions.public_mask(0, 0.3, seed=0).shape == (0,)


def test_public_mask_depends_on_no_random_stream():
    """Pinned: the split must not change between grader or numpy versions mid-semester (the
    public images of seed 1 among ten, from the hash of 'seed:position' alone)."""
    import hashlib

    assert np.flatnonzero(predictions.public_mask(10, 0.3, seed=1)).tolist() == [7, 8, 9]
    order = sorted(range(10), key=lambda i: hashlib.blake2b(f"1:{i}".encode(),
                                                            digest_size=8).digest())
    assert sorted(order[:3]) == [7, 8, 9]


@pytest.mark.parametrize("images, fraction", [(-1, 0.3), (10, 1.5), (10, -0.1)])
def test_public_mask_refuses_what_is_no_split(images, fraction):
    with pytest.raises(ValueError, match="public_mask needs"):
        predictions.public_mask(images, fraction, seed=0)


def test_split_scores_by_hand():
    from grader.grading import metrics

    target = np.array([0, 1, 2, 0, 1, 2])
    preds = np.array([0, 1, 0, 1, 1, 2])           # wrong at positions 2 and 3
    public = np.array([True, False, True, False, False, False])
    s = metrics.split_scores(preds, target, 3, public)
    # private: positions 1, 3, 4, 5 -> 3 of 4 right; public: 0 and 2 -> 1 of 2
    assert (s.accuracy, s.public_accuracy, s.public_images) == (0.75, 0.5, 2)
    assert s.confusion == [[0, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert s.per_class == [0.0, 1.0, 1.0]
    assert metrics.split_scores(preds, target, 3, np.zeros(6, bool)).public_accuracy is None
    with pytest.raises(ValueError, match="public must be a boolean mask of 6"):
        metrics.split_scores(preds, target, 3, np.zeros(5, bool))
    with pytest.raises(ValueError, match="target is empty"):    # no private image at all
        metrics.split_scores(preds, target, 3, np.ones(6, bool))


def test_retrained_models_are_scored_on_the_private_part(tmp_path):
    """The curves and the final figure are the private part's (the curves' last point is the
    model's figure), and the public part's accuracy comes beside it."""
    from grader.grading.retrain import score_training
    from grader.sandbox.bwrap import RunOutcome
    from grader.sandbox.reports import EpochReport, TrainHistory, TrainReport

    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    public = np.array([True, True, False, False, False, False, False, False])
    epochs = np.array([[0, 0, 0, 0, 0, 0, 0, 0],      # epoch 1: right on 0 and 4 (1 private)
                       [0, 1, 2, 3, 0, 1, 0, 0]])     # epoch 2: wrong on 6 and 7 (private)
    np.save(tmp_path / "epochs.npy", epochs)
    np.save(tmp_path / "final.npy", epochs[-1])
    report = TrainReport(key="m", ok=True, stage="done",
                         predictions_files=("epochs.npy", "final.npy"),
                         history=TrainHistory(epochs=(EpochReport(epoch=1), EpochReport(
                             epoch=2)), seconds=3.0))
    outcome = RunOutcome(status="ok", reason="", exit_code=0, seconds=1.0, output="",
                         result={}, out_dir=tmp_path)
    split = score_training("m", report, outcome, labels, 4, public)
    assert [e.val_accuracy for e in split.history] == [1 / 6, 4 / 6]
    assert split.scores.accuracy == split.history[-1].val_accuracy == 4 / 6
    assert (split.scores.public_accuracy, split.scores.public_images) == (1.0, 2)
    assert sum(map(sum, split.scores.confusion)) == 6
    whole = score_training("m", report, outcome, labels, 4)        # no split: as before
    assert whole.scores.accuracy == 6 / 8 and whole.scores.public_accuracy is None
    assert [e.val_accuracy for e in whole.history] == [2 / 8, 6 / 8]


def test_the_training_config_carries_the_split_only_when_there_is_one(tmp_path):
    import dataclasses

    from grader import spec
    from grader.grading.retrain import scored_public, train_config
    from grader.spec import HeldOutSpec

    hw2 = spec.load("ece661-hw2")
    plain = train_config(hw2, None)
    assert "held_out_split" not in plain          # the reference cache keys stay as they were
    split = train_config(dataclasses.replace(hw2, held_out=HeldOutSpec(0.25, seed=3)), None)
    assert split == {**plain, "held_out_split": [0.25, 3]}

    class Data:                                    # PreparedData's labels, 100 held-out images
        labels = np.arange(100) % 10

    assert scored_public(Data, plain) is None
    mask = scored_public(Data, {**split, "eval_images": 40})
    assert np.array_equal(mask, predictions.public_mask(100, 0.25, 3)[:40])
    assert 0 < mask.sum() < 40


def _split_spec(tmp_path, fraction: float):
    from grader import spec
    from tests.factories.specs import rubric_item, simplenn_spec

    head = """
[assignment]
course = "Test course"
title = "Split"

[predictions]
rows = 100
"""
    if fraction:
        head += f"\n[held_out]\npublic_fraction = {fraction}\nseed = 4\n"
    text = simplenn_spec(head) + rubric_item("absolute", "accuracy", model="simplenn",
                                             full=0.6, zero=0.2, points=10)
    path = tmp_path / f"split-{fraction}.toml"
    path.write_text(text)
    return spec.load(str(path))


def _graded_parts(public: float | None, private: float, *, split: bool):
    from grader.results import ReferenceBand, Scores, TrainingResult

    run = TrainingResult(model="simplenn", ok=True, scores=Scores(
        accuracy=private, per_class=[private] * 10, confusion=[[0] * 10] * 10,
        public_accuracy=public if split else None))
    band = ReferenceBand(model="simplenn", seeds=[0, 1], accuracies=[0.6, 0.6], mean=0.6,
                         spread=0.0, chance=0.1, threshold=0.19, learned=True,
                         public_accuracies=[0.7, 0.7] if split else [])
    preds = Scores(accuracy=0.95, per_class=[0.95] * 10, confusion=[[0] * 10] * 10,
                   public_accuracy=0.7 if split else None)
    return [run], [band], preds


def test_rubric_without_a_split_is_what_it_was(tmp_path):
    from grader.grading import rubric
    from grader.results import CheckResult

    assignment = _split_spec(tmp_path, 0)
    checks = [CheckResult("simplenn.found", True, "ok")]
    training, bands, preds = _graded_parts(None, 0.5, split=False)
    items = rubric.score_results(assignment, checks=checks, training=training, bands=bands,
                                 predictions=preds)
    assert items == rubric.score(assignment, checks=checks, accuracy={"simplenn": 0.5},
                                 reference={"simplenn": bands[0]}, predictions_accuracy=0.95)
    assert all(i.public_earned is None and not i.public_reasons for i in items)


def test_rubric_points_are_the_private_parts_and_the_public_part_comes_beside(tmp_path):
    from grader.grading import rubric
    from grader.results import CheckResult

    assignment = _split_spec(tmp_path, 0.3)
    training, bands, preds = _graded_parts(0.42, 0.54, split=True)
    items = {i.id: i for i in rubric.score_results(
        assignment, checks=[CheckResult("simplenn.found", True, "ok")], training=training,
        bands=bands, predictions=preds)}
    assert items["model"].public_earned is None                    # a check: not held out
    # relative to the reference: private 0.54 / 0.6 = 90% (full at 90%); public 0.42 against
    # the reference's public 0.7 = 60%, (0.6 - 0.3) / (0.9 - 0.3) of the points
    assert items["accuracy"].earned == 10
    assert items["accuracy"].public_earned == pytest.approx(5.0)
    assert "on the public 30% of the held-out images" in items["accuracy"].public_reasons[0]
    assert "the reference reached 70%" in items["accuracy"].public_reasons[0]
    # absolute: private 54% of a 60% target, public 42%
    assert items["absolute"].earned == pytest.approx(10 * (0.54 - 0.2) / 0.4)
    assert "on the private 70% of the held-out images" in items["absolute"].reasons[0]
    assert items["absolute"].public_earned == pytest.approx(10 * (0.42 - 0.2) / 0.4)
    # predictions.csv: private 95% (full marks), public 70%
    assert items["predictions"].earned == 10 and not items["predictions"].reasons
    assert items["predictions"].public_earned == pytest.approx(5.0)
    assert items["predictions"].public_reasons == [
        "predictions.csv scored 70% on the public 30% of the held-out test set (full points "
        "at 90%, none at or below 50%)"]


def test_the_reference_band_keeps_each_seeds_public_accuracy():
    from grader.grading.retrain import reference_band
    from grader.grading.rubric import public_band
    from grader.results import Scores, TrainingResult

    def run(seed, private, public):
        return TrainingResult(model="m", ok=True, seed=seed, scores=Scores(
            accuracy=private, per_class=[], confusion=[], public_accuracy=public))

    band = reference_band("m", "M", [run(0, 0.6, 0.5), run(1, 0.7, 0.7)], chance=0.1,
                          epochs=1)
    assert band.accuracies == [0.6, 0.7] and band.public_accuracies == [0.5, 0.7]
    public = public_band(band)
    assert public.mean == pytest.approx(0.6) and public.spread == pytest.approx(0.1414, 1e-3)
    assert public.accuracies == [0.5, 0.7] and public.learned == band.learned
    plain = reference_band("m", "M", [run(0, 0.6, None)], chance=0.1, epochs=1)
    assert plain.public_accuracies == [] and public_band(plain) is plain


# ---- a public/private split of the scored held-out images ([training] eval_images)

def _config(eval_images: int, fraction: float = 0.3, seed: int = 0) -> dict:
    return {"eval_images": eval_images, "held_out_split": [fraction, seed]}


def _first_run(mask, value: bool) -> int:
    """How many leading positions of `mask` equal `value` (0 when the first does not)."""
    other = np.flatnonzero(mask != value)
    return int(other[0]) if other.size else mask.size


@pytest.mark.parametrize("part, public_first", [("private", True), ("public", False)])
def test_an_eval_images_that_empties_a_part_is_a_spec_error(part, public_first):
    """A small `[training] eval_images` whose first images are all public (or all private)
    leaves a part empty: a SpecError naming both keys, not a ValueError from split_scores or a
    public item that reads "crashed" for every student."""
    from types import SimpleNamespace

    from grader.errors import SpecError
    from grader.grading import metrics
    from grader.grading.retrain import scored_public

    labels = np.arange(1000) % 10
    seed = next(s for s in range(100) if predictions.public_mask(1000, 0.3, s)[0] == public_first)
    n = _first_run(predictions.public_mask(1000, 0.3, seed), public_first)
    data = SimpleNamespace(labels=labels)
    with pytest.raises(SpecError) as err:
        scored_public(data, _config(n, seed=seed))
    message = str(err.value)
    assert "[held_out] public_fraction = 0.3" in message
    assert f"[training] eval_images = {n:,}" in message
    assert f"the {part} part of the scored held-out images empty" in message
    # one more image gives both parts one at least, and the split scores
    mask = scored_public(data, _config(n + 1, seed=seed))
    assert mask.size == n + 1 and 0 < mask.sum() < mask.size
    scores = metrics.split_scores(labels[:n + 1], labels[:n + 1], 10, mask)
    assert scores.accuracy == 1.0 and scores.public_accuracy == 1.0
    assert scores.public_images == int(mask.sum())


def test_a_split_of_every_held_out_image_needs_no_eval_images():
    from types import SimpleNamespace

    from grader.grading.retrain import scored_public

    data = SimpleNamespace(labels=np.zeros(1000, dtype=np.int64))
    mask = scored_public(data, _config(0))
    assert mask.size == 1000 and mask.sum() == 300
    assert scored_public(data, {"eval_images": 5}) is None          # no split: no mask


# ---------------------------------------------------------------- localization: boxes in rows

HW5_CLASSES = ("bus", "cat", "pizza")
# ECE 60146 HW5's own format: Id,Label,x1,y1,x2,y2 with the box scaled to 0..1
BOXES = PredictionsSpec(rows=3, labels="either", id_column="Id", label_column="Label",
                        box_columns=("x1", "y1", "x2", "y2"))
HEADER = b"Id,Label,x1,y1,x2,y2\n"
ROW0, ROW1, ROW2 = b"0,0,0.1,0.2,0.5,0.6\n", b"1,cat,0,0,1,1\n", b"2,2,0.25,0.3,0.25,0.9\n"

# fault, bytes written, message expected (substring), its line (None: whole file)
MALFORMED_BOXES = [
    ("labels without boxes", b"Id,Label\n0,0\n1,1\n2,2\n",
     "header is 'Id,Label'; expected 'Id,Label,x1,y1,x2,y2' (the box columns x1,y1,x2,y2 are "
     "missing)", 1),
    ("a row without its box", HEADER + ROW0 + b"1,1\n" + ROW2,
     "2 fields ('1,1'); expected 6: Id,Label,x1,y1,x2,y2 (no box)", 3),
    ("a box value missing", HEADER + ROW0 + b"1,1,0,0,1\n" + ROW2,
     "5 fields ('1,1,0,0,1'); expected 6: Id,Label,x1,y1,x2,y2", 3),
    ("an empty box value", HEADER + ROW0 + b"1,1,0,,1,1\n" + ROW2,
     "y1 '' is not a number; expected x1, y1, x2, y2 scaled to 0..1", 3),
    ("a word for a value", HEADER + ROW0 + ROW1 + b"2,2,0.1,0.2,wide,0.9\n",
     "x2 'wide' is not a number; expected x1, y1, x2, y2 scaled to 0..1", 4),
    ("NaN from a diverged model", HEADER + b"0,0,nan,nan,nan,nan\n" + ROW1 + ROW2,
     "x1 'nan' is not a number", 2),
    ("a value over 1", HEADER + ROW0 + b"1,1,0.2,0.2,1.2,0.9\n" + ROW2,
     "x2 1.2 is outside 0..1; expected x1, y1, x2, y2 scaled to 0..1", 3),
    ("a negative value", HEADER + ROW0 + ROW1 + b"2,2,-0.05,0.2,0.5,0.9\n",
     "x1 -0.05 is outside 0..1", 4),
    ("pixel coordinates", HEADER + b"0,0,25,51,128,153\n" + ROW1 + ROW2,
     "x1 25 is outside 0..1; expected x1, y1, x2, y2 scaled to 0..1 (pixels? divide by the "
     "image's width and height)", 2),
    ("corners out of order", HEADER + ROW0 + ROW1 + b"2,2,0.7,0.2,0.3,0.9\n",
     "box has x2 0.3 < x1 0.7; expected x1, y1, x2, y2 scaled to 0..1 with x1 <= x2 and "
     "y1 <= y2", 4),
    ("x, y, width, height: each row", HEADER + b"0,0,0.3,0.4,0.2,0.3\n1,1,0.5,0.1,0.4,0.6\n"
     + b"2,2,0.1,0.1,0.6,0.5\n", "box has x2 0.2 < x1 0.3 and y2 0.3 < y1 0.4", 2),
    ("x, y, width, height: the file", HEADER + b"0,0,0.3,0.4,0.2,0.3\n1,1,0.5,0.1,0.4,0.6\n"
     + b"2,2,0.1,0.1,0.6,0.5\n", "2 boxes with x2 < x1 or y2 < y1: these look like x, y, width, "
     "height; the course's format is x1, y1, x2, y2 scaled to 0..1", None),
    ("x, y, w, h in the header", b"Id,Label,x,y,w,h\n" + ROW0 + ROW1 + ROW2,
     "header is 'Id,Label,x,y,w,h'; expected 'Id,Label,x1,y1,x2,y2' (x, y, width, height? the "
     "course's format is x1, y1, x2, y2 scaled to 0..1)", 1),
    ("pandas index column", b",Id,Label,x1,y1,x2,y2\n0," + ROW0 + b"1," + ROW1 + b"2," + ROW2,
     "(an extra first column: write it with to_csv(..., index=False))", 1),
    ("header missing", ROW0 + ROW1 + ROW2,
     "(the first line looks like data: the header line is missing)", 1),
    ("empty file", b"", "file is empty; expected a header 'Id,Label,x1,y1,x2,y2' and 3 rows",
     None),
]


@pytest.mark.parametrize("fault, data, message, line", MALFORMED_BOXES,
                         ids=[row[0] for row in MALFORMED_BOXES])
def test_malformed_boxes_report_fault_with_line(write, fault, data, message, line):
    report = validate_predictions(write(data), BOXES, HW5_CLASSES)
    assert report.present and not report.valid
    assert report.labels is None and report.boxes is None
    found = [(e.line, e.message) for e in report.errors]
    assert any(message in m and at == line for at, m in found), found


def test_scattered_order_faults_are_not_called_x_y_width_height(write):
    """One slip (corners swapped where x + width would leave the image) is not the format."""
    data = HEADER + ROW0 + ROW1 + b"2,2,0.9,0.2,0.6,0.9\n"
    messages = [e.message for e in validate_predictions(write(data), BOXES, HW5_CLASSES).errors]
    assert messages == ["box has x2 0.6 < x1 0.9; expected x1, y1, x2, y2 scaled to 0..1 with "
                        "x1 <= x2 and y1 <= y2"]


def test_valid_boxes_come_back_in_id_order(write):
    data = b"id , LABEL,X1,y1,x2,Y2\r\n" + ROW2.replace(b"\n", b"\r\n") + ROW0 + ROW1 \
        + b"\n"
    report = validate_predictions(write(data), BOXES, HW5_CLASSES)
    assert report.valid, report.errors
    assert report.labels == [0, 1, 2]
    assert report.boxes == [[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0],
                            [0.25, 0.3, 0.25, 0.9]]     # a box of no width is valid (IoU 0)


def test_a_value_a_rounding_past_1_is_clipped(write):
    data = HEADER + b"0,0,0.1,0.2,1.0000001,0.6\n" + ROW1 + ROW2
    report = validate_predictions(write(data), BOXES, HW5_CLASSES)
    assert report.valid and report.boxes[0] == [0.1, 0.2, 1.0, 0.6]


def test_a_classification_file_has_no_boxes(write):
    report = validate_predictions(write(b"id,label\n0,3\n1,0\n2,9\n"), INDEX, CIFAR10_CLASSES)
    assert report.valid and report.boxes is None


@pytest.mark.parametrize("data", [b"id,label\n1,cat\n0,bus\n2,pizza\n",
                                  HEADER + b"1,cat,0,0,1,1\n0,bus,0,0,1,1\n2,2,0,0,1,1\n"],
                         ids=["grader data split's id,label", "with the boxes"])
def test_held_out_labels_for_a_box_task_may_leave_the_boxes_out(write, data):
    assert read_labels(write(data), BOXES, HW5_CLASSES).tolist() == [0, 1, 2]


def test_held_out_labels_with_bad_boxes_are_refused(write):
    with pytest.raises(InputError, match="x2 0.3 < x1 0.7"):
        read_labels(write(HEADER + ROW0 + ROW1 + b"2,2,0.7,0.2,0.3,0.9\n"), BOXES, HW5_CLASSES)


def test_hw5_builtin_spec_takes_the_courses_box_header(write):
    from grader.spec import load

    spec = load("ece60146-hw5-2023").predictions
    rows = "".join(f"{i},{i % 3},0.1,0.1,0.6,0.7\n" for i in range(spec.rows))
    report = validate_predictions(write(("Id,Label,x1,y1,x2,y2\n" + rows).encode()), spec,
                                  HW5_CLASSES)
    assert report.valid and len(report.boxes) == spec.rows


def test_the_format_check_counts_every_faulty_line_not_the_messages_shown(tmp_path):
    """10,000 bad labels show a few messages and a summary; the check says 10,000 lines."""
    from grader import spec
    from grader.grading.handin_checks import prediction_checks

    hw2 = spec.load("ece661-hw2")
    (tmp_path / "predictions.csv").write_text(
        "Id,Label\n" + "".join(f"{i},x\n" for i in range(hw2.predictions.rows)))
    report, checks = prediction_checks(tmp_path, ["predictions.csv"], hw2)
    assert report.faulty_lines == 10000 and len(report.errors) < 20
    assert checks[-1].message.startswith("10,000 faulty lines: line 2: ")
