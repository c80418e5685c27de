"""The harness's FLOP counter (harness.dataflow.FlopCounter, a TorchFunctionMode) against
torch's own FlopCounterMode (a TorchDispatchMode, which `grader check` avoids: its first use
imports torch._dynamo): the same totals on every reference model and on the einsum forms
students write attention with."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

import grader
import reference

sys.path.insert(0, str(Path(grader.__file__).parent / "sandbox"))  # the harness package, as in the sandbox
from harness.dataflow import FlopCounter  # noqa: E402


def both(fn) -> tuple[int, int]:
    """(FlopCounterMode's total, FlopCounter's total) for one call of fn."""
    theirs, ours = FlopCounterMode(display=False), FlopCounter()
    with torch.no_grad(), theirs:
        fn()
    with torch.no_grad(), ours:
        fn()
    return theirs.get_total_flops(), ours.total


RECURRENT = ("hw3-", "hw8-")        # sequence models: not an image in (counted below)


@pytest.mark.slow                   # every reference model forward twice, with two counters: ~11 s
@pytest.mark.parametrize("model_id", sorted(m for m in reference.MODELS
                                            if not m.startswith(RECURRENT)))
def test_every_reference_model_counts_as_torch_counts_it(model_id):
    torch.manual_seed(0)
    side = 64 if model_id.startswith(("hw4", "resnet18")) else 32
    model = reference.build(model_id).eval()
    theirs, ours = both(lambda: model(torch.randn(1, 3, side, side)))
    assert ours == theirs and ours > 0


class EinsumAttention(nn.Module):
    """Self-attention as students write it from the paper, with einsum (heads split by view)."""

    def __init__(self, dim: int = 32, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).unbind(2)
        attn = torch.einsum("bqhd,bkhd->bhqk", q, k).softmax(-1)
        return self.proj(torch.einsum("bhqk,bkhd->bqhd", attn, v).reshape(b, n, d))


@pytest.mark.parametrize("equation, shapes", [
    ("bij,bkj->bik", [(2, 16, 32), (2, 16, 32)]),
    ("ij,jk", [(5, 7), (7, 3)]),                    # implicit output
    ("bij,bjk->ik", [(2, 3, 4), (2, 4, 5)]),        # the batch label summed too
    ("ij,j->i", [(3, 4), (4,)]),
    ("ij,kl->il", [(3, 4), (5, 6)]),                # j and k summed out first: no product
    ("i,j->ij", [(4,), (5,)]),                      # an outer product: elementwise, 0
    ("bi,bj->bij", [(3, 4), (3, 5)]),
])
def test_einsum_counts_as_torch_counts_it(equation, shapes):
    operands = [torch.randn(*s) for s in shapes]
    assert both(lambda: torch.einsum(equation, *operands)) \
        == both(lambda: torch.einsum(equation, operands))
    theirs, ours = both(lambda: torch.einsum(equation, *operands))
    assert ours == theirs


def test_an_einsum_attention_block_counts_as_torch_counts_it():
    block = EinsumAttention().eval()
    theirs, ours = both(lambda: block(torch.randn(2, 16, 32)))
    linears = 2 * 2 * 16 * 32 * 96 + 2 * 2 * 16 * 32 * 32
    assert ours == theirs > linears                 # the two einsums are counted


def test_recurrent_layers_count_every_gate_product_at_every_step():
    """The fused GRU/LSTM calls (packed or not) count 2 x rows x columns of each weight per
    token, as torch's FlopCounterMode does."""
    torch.manual_seed(0)
    gru = reference.build("hw8-gru").eval()          # GRU(300, 100), then Linear(100, 2)
    x, h = torch.randn(12, 1, 300), gru.init_hidden()
    theirs, ours = both(lambda: gru(x, h))
    assert ours == theirs == 2 * 12 * (300 * 300 + 300 * 100) + 2 * 100 * 2
    lstm = reference.build("hw3-lstm", vocab_size=50).eval()   # LSTM(64, 64), Linear(64, 2)
    ids, length = torch.randint(1, 50, (2, 7)), torch.tensor([7, 4])   # packed: 11 tokens
    theirs, ours = both(lambda: lstm(ids, length))
    assert ours == theirs == 2 * 11 * 2 * (256 * 64) + 2 * 2 * 64 * 2
