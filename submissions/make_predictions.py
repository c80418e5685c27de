"""Write the example classes' predictions.csv files from the built-in synthetic held-out split.

Each student's file is the true labels with a fraction replaced by random wrong ones, so the
README's main job (and `--assignment tiny-imagenet` for ivan) scores them against the same
synthetic labels `grader evaluate` uses:
    python submissions/make_predictions.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.inputs.data import default_cache_dir, load_dataset
from grader.spec import load

HERE = Path(__file__).parent
# assignment -> (folder, first seed: the i-th student's is seed + i, students), where a student
# is (fraction correct, labels written as "index" or "name", header, line end, BOM)
CLASSES = {
    "ece661-hw2": ("ece661-hw2", 1000, {
        "alice": (0.93, "index", "id,label", "\n", False),
        "bob": (0.86, "name", "id,label", "\n", False),
        "carol": (0.61, "index", "id,label", "\n", False),
        "dave": (0.80, "index", "ID,Category", "\n", False),   # the wrong header: a format failure
        # the course's own header, as its sample_predictions.csv has it; saved on Windows
        # (CRLF), hugo's through Excel's "CSV UTF-8" (a byte-order mark too)
        "gina": (0.91, "index", "Id,Label", "\r\n", False),
        "hugo": (0.74, "index", "Id,Label", "\r\n", True),
    }),
    # the transfer-learning example: 200 classes, the spec's default header
    "tiny-imagenet": ("tiny-imagenet", 2000, {
        "ivan": (0.58, "index", "id,label", "\n", False),
    }),
}


def predictions_file(labels: np.ndarray, names: tuple[str, ...], seed: int, correct: float,
                     style: str, header: str, end: str, bom: bool) -> tuple[bytes, float]:
    """One student's predictions.csv as bytes, and the fraction of it that is correct."""
    rng = np.random.default_rng(seed)
    preds = labels.copy()
    wrong = rng.random(len(preds)) > correct
    preds[wrong] = (preds[wrong] + rng.integers(1, len(names), wrong.sum())) % len(names)
    rows = [header] + [f"{j},{names[p] if style == 'name' else p}" for j, p in enumerate(preds)]
    text = end.join(rows) + end
    return ("\ufeff" if bom else "").encode() + text.encode("utf-8"), (preds == labels).mean()


def main() -> None:
    for assignment_id, (folder, first_seed, students) in CLASSES.items():
        assignment = load(assignment_id)
        dataset = load_dataset(assignment.dataset, None,
                               cache_dir=default_cache_dir() / "data")
        labels = np.asarray(dataset.test_labels)
        for i, (student, (correct, style, header, end, bom)) in enumerate(students.items()):
            data, share = predictions_file(labels, assignment.dataset.class_names,
                                           first_seed + i, correct, style, header, end, bom)
            (HERE / folder / student / "predictions.csv").write_bytes(data)
            print(f"{folder}/{student}: {share:.1%} correct, labels as {style}")


if __name__ == "__main__":
    main()
