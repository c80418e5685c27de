"""The one notebook writer, and predictions.csv as the course's template writes it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence, Union

# a cell: "source" (code), ("md", text), ("code", source) or ("code", source, stdout)
Cell = Union[str, tuple]

COLAB_METADATA = {"colab": {"provenance": [], "gpuType": "T4"}, "accelerator": "GPU",
                  "kernelspec": {"name": "python3", "display_name": "Python 3"}}


def write_notebook(path: Path, cells: Sequence[Cell], *, title: str | None = "# Homework",
                   dedent: bool = True, colab: bool = False) -> Path:
    """A real nbformat v4 notebook: `title` as a markdown cell first (None: none), then the
    cells. With colab, Colab's metadata and execution counts on the code cells, as Colab
    saves them. Code given as a plain string is dedented unless dedent=False."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    if colab:
        nb.metadata.update(COLAB_METADATA)
    if title is not None:
        nb.cells.append(nbformat.v4.new_markdown_cell(title))
    count = 0
    for cell in cells:
        kind, source, *output = ("code", cell) if isinstance(cell, str) else cell
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
            continue
        if isinstance(cell, str) and dedent:
            source = textwrap.dedent(source)
        extra = {}
        if colab:
            count += 1
            extra["execution_count"] = count
        if output:
            extra["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text=output[0])]
        nb.cells.append(nbformat.v4.new_code_cell(source, **extra))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def predictions_rows(labels: Sequence[int | str], *, crlf: bool = True) -> bytes:
    """The template's save_test_predictions output: `Id,Label`, one row per image (CRLF by
    default, as the course's Windows-made files have it)."""
    end = "\r\n" if crlf else "\n"
    lines = ["Id,Label"] + [f"{i},{label}" for i, label in enumerate(labels)]
    return (end.join(lines) + end).encode()


def predictions(path: Path, rows: int = 10000) -> Path:
    """predictions.csv with `rows` rows, label i % 10, CRLF line ends."""
    path.write_bytes(predictions_rows([i % 10 for i in range(rows)]))
    return path
