"""A model's declared outputs (ModelReport.heads) as the check section and the terminal show
them: "label (1, 3), box (1, 4)", each judged against the shape [interface] declares. No
plotting here: `grader check` imports it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from grader.results import HeadShape

_SIZE = re.compile(r"-?\d+")


def head_ok(head: HeadShape) -> bool | None:
    """Whether a head's shape fits its declared one ("[B, 4]": any batch, 4 wide); None when
    nothing is declared to compare with."""
    spec = head.expected.strip().strip("[]()")
    if not spec or spec == "any":
        return None
    if head.shape is None:
        return False
    sizes = [s.strip() for s in spec.split(",") if s.strip()]
    if len(sizes) != len(head.shape):
        return False
    return all(not _SIZE.fullmatch(s) or int(s) == got for s, got in zip(sizes, head.shape))


def head_text(head: HeadShape) -> str:
    """'box (1, 4)' as the check section and the terminal show a head."""
    shape = "not returned" if head.shape is None else "(" + ", ".join(map(str, head.shape)) + ")"
    return f"{head.name} {shape}"


def head_cells(heads: Sequence[HeadShape]) -> list[dict]:
    """The heads for the model table: text, whether each fits, what was expected."""
    return [{"text": head_text(h), "ok": head_ok(h), "expected": h.expected} for h in heads]
