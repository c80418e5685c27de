"""Write the example class's predictions.csv files from the built-in synthetic held-out split.

Each student's file is the true labels with a fraction replaced by random wrong ones, so the
README's main job scores them against the same synthetic labels `grader evaluate` uses:
    python submissions/make_predictions.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.inputs.data import default_cache_dir, load_dataset
from grader.spec import load

HERE = Path(__file__).parent / "ece661-hw2"
# student -> (fraction correct, labels written as "index" or "name", header, line end, BOM)
STUDENTS = {
    "alice": (0.93, "index", "id,label", "\n", False),
    "bob": (0.86, "name", "id,label", "\n", False),
    "carol": (0.61, "index", "id,label", "\n", False),
    "dave": (0.80, "index", "ID,Category", "\n", False),   # the wrong header: a format failure
    # the course's own header, as its sample_predictions.csv has it; saved on Windows (CRLF),
    # hugo's through Excel's "CSV UTF-8" (a byte-order mark too)
    "gina": (0.91, "index", "Id,Label", "\r\n", False),
    "hugo": (0.74, "index", "Id,Label", "\r\n", True),
}


def main() -> None:
    assignment = load("ece661-hw2")
    dataset = load_dataset(assignment.dataset, None, cache_dir=default_cache_dir() / "data")
    labels = np.asarray(dataset.test_labels)
    names = assignment.dataset.class_names
    for i, (student, (correct, style, header, end, bom)) in enumerate(STUDENTS.items()):
        rng = np.random.default_rng(1000 + i)
        preds = labels.copy()
        wrong = rng.random(len(preds)) > correct
        preds[wrong] = (preds[wrong] + rng.integers(1, 10, wrong.sum())) % 10
        rows = [header] + [f"{j},{names[p] if style == 'name' else p}"
                           for j, p in enumerate(preds)]
        text = end.join(rows) + end
        (HERE / student / "predictions.csv").write_bytes(
            ("\ufeff" if bom else "").encode() + text.encode("utf-8"))
        print(f"{student}: {(preds == labels).mean():.1%} correct, labels as {style}")


if __name__ == "__main__":
    main()
