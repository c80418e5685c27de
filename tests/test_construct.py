"""grader.inputs.construct on odd and oversized student code: bounded work, no exception."""

from __future__ import annotations

import pytest

from grader.inputs import construct
from grader.inputs import discovery
from grader.inputs.sources import read_sources

HW4NET = ("import torch.nn as nn\nclass HW4Net(nn.Module):\n"
          "    def __init__(self, task):\n        super().__init__()\n")


def _made(make_submission, code: str) -> list[str]:
    root = make_submission({"hw4.py": HW4NET + code + "\n"})
    files, _ = read_sources(root)
    nss = discovery.namespaces(files)
    d = next(d for ns in nss for d in ns.classes if d.node.name == "HW4Net")
    return [c.text for c in construct.constructions(nss, d)]


def test_a_huge_range_is_never_built_in_full(make_submission):
    # list(range(10**18)) would ask for 8 EB (a MemoryError at once; 10**9 takes 8 GB)
    made = _made(make_submission,
                 "for t in range(1000000000000000000):\n    net = HW4Net(t)")
    assert made == [f"HW4Net({t})" for t in range(construct.MAX_PER_CLASS)]


def test_nested_loops_make_at_most_max_per_class_calls(make_submission, monkeypatch):
    inlined = []
    real = construct._inline
    monkeypatch.setattr(construct, "_inline", lambda *a: inlined.append(a) or real(*a))
    made = _made(make_submission, "for a in range(8):\n    for b in range(8):\n"
                                  "        for c in range(8):\n            HW4Net(a + b + c)")
    assert made == [f"HW4Net(0 + 0 + {c})" for c in range(construct.MAX_PER_CLASS)]
    assert len(inlined) == construct.MAX_PER_CLASS        # not 8 ** 3 = 512


@pytest.mark.parametrize("loop", [
    "range(1, 2, 3, 4)",            # TypeError: range expected at most 3 arguments
    "range(0, 5, 0)",               # ValueError: range() arg 3 must not be zero
    "range()",                      # no bounds at all
    "range('a')",                   # not an int
])
def test_a_range_python_rejects_counts_as_no_construction(make_submission, loop):
    assert _made(make_submission, f"for t in {loop}:\n    net = HW4Net(t)") == []
