"""`grader data fetch | synth | split`: datasets (grader.inputs.data)."""

from __future__ import annotations

from pathlib import Path

import click

from grader import spec
from grader.cli.common import ASSIGNMENT, handle_errors


@click.group("data")
def data_group() -> None:
    """Datasets: download CIFAR-10, make the synthetic set, split a test set for students."""


@data_group.command("fetch")
@click.argument("name", type=click.Choice(["cifar10"]))
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@handle_errors
def data_fetch_cmd(name, directory) -> None:
    """Download NAME into DIRECTORY with torchvision (needs internet)."""
    from grader.inputs.data import fetch_cifar10

    fetch_cifar10(directory)
    click.echo(f"CIFAR-10 in {directory}/cifar-10-batches-py; use --data {directory}")


@data_group.command("synth")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--train", "n_train", type=click.IntRange(min=1), default=None,
              help="Training images or sequences [default: 5000, or the assignment's "
                   "synthetic_train].")
@click.option("--test", "n_test", type=click.IntRange(min=1), default=None,
              help="Test images or sequences [default: 10000, or the assignment's "
                   "synthetic_test].")
@click.option("--assignment", "-a", default=None, metavar="ID|FILE.toml",
              help="Make this assignment's stand-in (its classes, image size or vocabulary; "
                   "localization and sequence tasks: DIRECTORY/data.npz, for --data).")
@handle_errors
def data_synth_cmd(directory, seed, n_train, n_test, assignment) -> None:
    """Write the built-in synthetic dataset (the CIFAR-10 python format; a localization or
    sequence assignment's: an .npz)."""
    from grader.inputs.data import write_synthetic

    task = spec.load(assignment) if assignment else None
    written = write_synthetic(directory, seed=seed, n_train=n_train, n_test=n_test,
                              assignment=task)
    if written.suffix == ".npz":
        click.echo(f"synthetic {task.task.kind} data in {written}; use --data {written}")
    else:
        click.echo(f"synthetic CIFAR-10-format data in {directory}")


@data_group.command("split")
@ASSIGNMENT
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset to split (default: the built-in synthetic data).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--permute-seed", type=click.IntRange(min=0), default=None,
              help="Shuffle the test images by a secret permutation, so predictions made in the "
                   "public CIFAR-10 order score at chance.")
@handle_errors
def data_split_cmd(assignment, data_dir, out_dir, permute_seed) -> None:
    """Make what students get (test_images.npz, sample_predictions.csv) and what the
    instructor keeps (labels.csv) from the dataset's test split. Both CSV files use the
    assignment's [predictions] header (id_column, label_column) and ids from its first_id;
    a localization task's add the box columns, a sequence task's students get
    test_sequences.npz (ids, lengths) instead of images."""
    from grader.inputs.data import load_dataset, split_test_set
    from grader.run.evaluate import cache_folder

    task = spec.load(assignment)
    dataset = load_dataset(task.dataset, data_dir, cache_dir=cache_folder() / "data",
                           task=task.task.kind)
    files = split_test_set(dataset, out_dir, permute_seed=permute_seed,
                           predictions=task.predictions)
    click.echo(f"students get: {out_dir}/{files.images.name}, {out_dir}/sample_predictions.csv\n"
               f"keep private: {out_dir}/labels.csv (pass it to evaluate --labels)")
