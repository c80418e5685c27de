"""Sequence classifiers: Purdue ECE 60146 HW8 (DLStudio's GRU on word2vec embeddings) and
Duke ECE 661 HW3 LabRNN (LSTM and GRU on token ids with lengths).

- `GRUnetWithEmbeddings(input_size=300, hidden_size=100, output_size=2, num_layers=1)`, as
  DLStudio's `TextClassificationWithEmbeddings` has it: sequence-first input [T, 1, 300] (one
  review's word2vec vectors, batch size 1), `nn.GRU`, a Linear on the ReLU of the last step's
  output, `LogSoftmax(dim=1)`; `forward(x, h) -> (out [1, 2], h)`, `init_hidden()` zeros
  [num_layers, 1, hidden_size]; trained with `NLLLoss`. 120,802 parameters.
- `LSTMClassifier` / `GRUClassifier(vocab_size, embedding_dim=64, hidden_size=64,
  num_classes=2)`: `nn.Embedding(padding_idx=0)`, `pack_padded_sequence(emb, length.cpu(),
  batch_first=True, enforce_sorted=False)`, the last layer's final hidden state -> Linear;
  `forward(ids [B, T], length [B]) -> [B, 2]` logits, cross-entropy. The embedding is most of
  the count: vocab_size x embedding_dim.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class GRUnetWithEmbeddings(nn.Module):
    def __init__(self, input_size: int = 300, hidden_size: int = 100, output_size: int = 2,
                 num_layers: int = 1) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.gru = nn.GRU(input_size, hidden_size, num_layers)
        self.fc = nn.Linear(hidden_size, output_size)
        self.relu = nn.ReLU()
        self.logsoftmax = nn.LogSoftmax(dim=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.gru(x, h)
        out = self.fc(self.relu(out[-1]))
        out = self.logsoftmax(out)
        return out, h

    def init_hidden(self) -> torch.Tensor:
        weight = next(self.parameters()).data
        return weight.new(self.num_layers, 1, self.hidden_size).zero_()


class _LabRNN(nn.Module):
    """ECE 661 HW3 LabRNN: embedding, a packed recurrent layer, the final hidden state -> fc."""

    cell: type[nn.Module] = nn.LSTM

    def __init__(self, vocab_size: int, embedding_dim: int = 64, hidden_size: int = 64,
                 num_classes: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.rnn = self.cell(embedding_dim, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        emb = self.embedding(x)
        packed = pack_padded_sequence(emb, length.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, hidden = self.rnn(packed)
        if isinstance(hidden, tuple):                   # an LSTM's (h, c)
            hidden = hidden[0]
        return self.fc(hidden[-1])


class LSTMClassifier(_LabRNN):
    cell = nn.LSTM


class GRUClassifier(_LabRNN):
    cell = nn.GRU


VOCAB_SIZE = 10_000                 # when none is given (the spec's [dataset] vocab_size is)


def hw8_gru(num_classes: int = 2, vocab_size: int | None = None,
            embedding_dim: int | None = None, **kwargs) -> GRUnetWithEmbeddings:
    """The registry's "hw8-gru": embedding_dim is the word2vec size (300); vocab_size is not
    needed (the vectors come in)."""
    return GRUnetWithEmbeddings(input_size=embedding_dim or 300,
                                hidden_size=kwargs.get("hidden_size", 100),
                                output_size=num_classes, num_layers=kwargs.get("num_layers", 1))


def hw3_lstm(num_classes: int = 2, vocab_size: int | None = None,
             embedding_dim: int | None = None, **kwargs) -> LSTMClassifier:
    """The registry's "hw3-lstm"."""
    return LSTMClassifier(vocab_size or VOCAB_SIZE, embedding_dim or 64,
                          kwargs.get("hidden_size", 64), num_classes)


def hw3_gru(num_classes: int = 2, vocab_size: int | None = None,
            embedding_dim: int | None = None, **kwargs) -> GRUClassifier:
    """The registry's "hw3-gru"."""
    return GRUClassifier(vocab_size or VOCAB_SIZE, embedding_dim or 64,
                         kwargs.get("hidden_size", 64), num_classes)
