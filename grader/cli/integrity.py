"""`grader integrity`: pairs of hand-ins worth a human look (grader.integrity.find_integrity);
`grader evaluate --integrity` writes the same report after grading."""

from __future__ import annotations

import json
from pathlib import Path

import click

from grader import errors, spec
from grader.cli.common import ASSIGNMENT, handle_errors, request


@click.command("integrity")
@click.argument("class_dir", type=click.Path(path_type=Path))
@ASSIGNMENT
@click.option("--starter", multiple=True, type=click.Path(path_type=Path),
              help="Starter code given to everyone (file or folder; repeatable): never counts.")
@click.option("--sources", multiple=True, type=click.Path(path_type=Path),
              help="Known public implementations (file or folder; repeatable).")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="Held-out labels (labels.csv from `grader data split`): shared wrong answers.")
@click.option("--public-labels", type=click.Path(path_type=Path), default=None,
              help="The same images' labels in the public order (labels.csv of a split "
                   "without --permute-seed): predictions made on the public test set.")
@click.option("--results", type=click.Path(path_type=Path), default=None,
              help="Result files of `grader evaluate` (layer tables, accuracies): models. "
                   "Default: ./grades, evaluate's default --out, when it exists.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for integrity.pdf, integrity.json, integrity.csv and the heatmap.")
@click.option("--json", "as_json", is_flag=True, help="Print integrity.json's content.")
@handle_errors
def integrity_cmd(class_dir, assignment, starter, out_dir, as_json, **params) -> None:
    """Find the pairs of hand-ins in CLASS_DIR (one subfolder or .zip per student) worth a
    human look: copied code, copied free-design models, copied predictions. For the
    instructor only; never changes a grade. Student code is read, never run.

    Exit code 0 whether or not pairs are flagged; 2: usage or input error; 4: no PDFs can be
    made here (WeasyPrint's system libraries are missing)."""
    from grader.integrity import IntegrityOptions, find_integrity, write_outputs
    from grader.integrity.output import to_json
    from grader.report.render import require_pdf_engine

    task = spec.load(assignment)
    require_pdf_engine()
    # params: sources, labels, public_labels, results, named as IntegrityOptions' fields
    report = find_integrity(class_dir, task, request(
        IntegrityOptions, params, starter=tuple(starter) + task_starter(task)))
    outputs = write_outputs(report, out_dir)
    if as_json:
        click.echo(json.dumps(to_json(report), indent=2))
        return
    click.echo(f"{len(report.flagged)} pair(s) and {len(report.students_flagged)} "
               f"student(s) worth a look among {len(report.students)} students")
    for rank, pair in enumerate(report.flagged, 1):
        kinds = ", ".join(f"{f.kind} ({f.strength})" for f in pair.flags)
        click.echo(f"{rank:>4}  {pair.a}  {pair.b}  {kinds}")
    for finding in report.students_flagged:
        kinds = ", ".join(f"{f.kind} ({f.strength})" for f in finding.flags)
        click.echo(f"      {finding.student}  {kinds}")
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"integrity: {outputs.pdf}, {outputs.json.name}, {outputs.csv.name}, "
               f"{outputs.heatmap.name} (instructor only)")


def write_integrity(class_dir: Path, task, labels: Path | None, results_dir: Path,
                    out_dir: Path) -> None:
    """`grader evaluate --integrity`: the integrity report beside the class summary (which
    then names it), from the class folder and the result files just written."""
    from grader.integrity import IntegrityOptions, find_integrity, write_outputs

    try:        # the grades are made: a class that cannot be compared must not stop the reports
        report = find_integrity(class_dir, task, IntegrityOptions(
            starter=task_starter(task), labels=labels, results=results_dir))
        outputs = write_outputs(report, out_dir)
    except errors.GraderError as exc:
        click.echo(f"error: integrity report not made: {exc}", err=True)
        return
    click.echo(f"integrity: {len(report.flagged)} pair(s) and {len(report.students_flagged)} "
               f"student(s) worth a look; {outputs.pdf} (instructor only)")


def task_starter(task) -> tuple[Path, ...]:
    """The spec's `[integrity] starter` paths (resolved against the spec file's folder)."""
    return tuple(Path(p) for p in task.integrity.starter)
