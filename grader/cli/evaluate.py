"""`grader evaluate`: grade a class (grader.run.evaluate.evaluate, with one typed request,
grader.run.options.Options), then, when asked, the integrity report and the PDF reports.

The options named like Options' fields become that request; the cluster options become the
Slurm executor's settings (grader.run.slurm.load). Their defaults live there, not here.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from grader import errors, spec
from grader.cli.common import (
    ASSIGNMENT,
    NO_SANDBOX,
    exit_with,
    handle_errors,
    limit_options,
    request,
)
from grader.cli.integrity import write_integrity
from grader.cli.report import write_reports
from grader.run.options import BUDGETS, DEFAULT_BUDGET, OUT_DIR, Options


def cluster_options(fn):
    """`evaluate --executor slurm` and its settings, named as grader.run.slurm.load's keyword
    arguments (defaults: grader.run.slurm.ClusterSettings, then a [cluster] table in the spec
    or the --cluster file)."""
    for args, kw in reversed([
            (("--executor",), dict(type=click.Choice(["local", "slurm"]), default="local",
                                   show_default=True, help="local: on this machine; slurm: "
                                   "one Slurm job array (see docs/cluster.md).")),
            (("--cluster", "cluster_file"), dict(type=click.Path(path_type=Path), default=None,
                                                 help="TOML file with a [cluster] table.")),
            (("--partition",), dict(default=None, help="Slurm partition.")),
            (("--account",), dict(default=None, help="Slurm account to charge.")),
            (("--time",), dict(default=None, help="Time limit per array task: minutes or "
                                                  "[D-]HH:MM:SS.")),
            (("--gpus-per-task",), dict(type=click.IntRange(min=0), default=None,
                                        help="GPUs per array task (--gres=gpu:N).")),
            (("--cpus-per-task",), dict(type=click.IntRange(min=1), default=None,
                                        help="Cores per array task.")),
            (("--students-per-task",), dict(type=click.IntRange(min=1), default=None,
                                            help="Students graded by one array task.")),
            (("--array-parallelism",), dict(type=click.IntRange(min=1), default=None,
                                            help="Array tasks running at once.")),
            (("--sbatch",), dict(multiple=True, metavar="FLAG", help="Extra sbatch flag "
                                 "(--sbatch=--qos=high); repeat.")),
            (("--no-wait",), dict(is_flag=True, help="Submit the array and return (after the "
                                  "reference models' job, unless they are cached); follow "
                                  "with `grader status OUT`, finish with `grader report`."))]):
        fn = click.option(*args, **kw)(fn)
    return fn


# what --data's absence means, per task kind (docs/tasks.md describes the stand-ins)
STAND_INS = {
    "classification": "using the built-in synthetic dataset in the CIFAR-10 file format "
                      "(accuracies are not CIFAR-10 accuracies)",
    "localization": "using the built-in synthetic stand-in (one object and its box per image, "
                    "in the .npz format; accuracies and IoUs are not COCO's)",
    "sequence": "using the built-in synthetic stand-in (token sequences whose label follows "
                "their sentiment words, in the .npz format; accuracies are not IMDB's)",
}


@click.command("evaluate")
@click.argument("submissions", type=click.Path(path_type=Path))
@ASSIGNMENT
@click.option("--gpu", is_flag=True, help="Train on CUDA; fails clearly when there is none.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset folder (CIFAR-10 python format, Tiny ImageNet) or .npz. "
                   "Default: the built-in synthetic dataset.")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="Held-out labels (id,label CSV from `grader data split`) to score "
                   "predictions.csv against. Default: the dataset's test labels.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Training epochs for every model (default: the spec's).")
@click.option("--budget", type=click.Choice(list(BUDGETS)), default=DEFAULT_BUDGET,
              show_default=True,
              help="Grading budget: " + "; ".join(f"{name}: {b.describe()}" for name, b in
                                                  BUDGETS.items())
              + " (see docs/gpu.md). --epochs still overrides the epochs.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=OUT_DIR,
              show_default=True, help="Where result files (and reports) are written.")
@click.option("--report", is_flag=True, help="Also write PDF reports and exports to OUT/reports.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as a JSON list.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Students graded at once (default: one per core, or --per-gpu per GPU "
                   "with --gpu); the cores are divided among them.")
@click.option("--per-gpu", type=click.IntRange(min=1), default=Options.per_gpu, show_default=True,
              help="With --gpu: students sharing each GPU (each sees only its GPU).")
@click.option("--mps", is_flag=True,
              help="With --gpu: let sandboxes use the CUDA MPS daemon you started; students "
                   "that shared a GPU with a fatal GPU fault are regraded without MPS.")
@click.option("--force", is_flag=True,
              help="Regrade every student, even those with a stored result for the same inputs.")
@click.option("--only", multiple=True, metavar="NAME",
              help="Grade (and regrade) only this student; repeat for several.")
@click.option("--integrity", is_flag=True,
              help="Also compare the class's code, models and predictions (grader integrity) "
                   "into OUT/reports/integrity.pdf: instructor only, never in students' reports.")
@click.option("--progress", "progress_mode", default="auto", show_default=True,
              type=click.Choice(["auto", "bar", "plain", "jsonl"]),
              help="auto: a live bar on a terminal, plain lines otherwise; jsonl: one JSON "
                   "event per line on stdout (the results table then goes to stderr).")
@limit_options
@cluster_options
@NO_SANDBOX
@handle_errors
def evaluate_cmd(submissions, assignment, budget, out_dir, report, as_json, integrity,
                 progress_mode, no_sandbox, **params) -> None:
    """Retrain each student's models with the canonical routine beside the reference, score
    them and predictions.csv on held-out labels, and award points.

    SUBMISSIONS is one submission (folder or .zip) or a class folder with one subfolder or
    .zip per student. One JSON result per student is written to OUT."""
    from grader.cli.terminal import evaluation_table
    from grader.inputs.handins import find_submissions
    from grader.report.render import require_pdf_engine
    from grader.results import to_dict
    from grader.run.evaluate import evaluate
    from grader.run.progress import make_display
    from grader.sandbox.bwrap import require_sandbox

    task = BUDGETS[budget].apply(spec.load(assignment))
    if params["executor"] != "slurm":    # on Slurm the nodes check their own sandbox
        require_sandbox(no_sandbox)
    options = request(Options, params, sandboxed=not no_sandbox)   # params: the cluster's left
    executor = _executor(params, assignment, out_dir, options.per_gpu)
    if (report or integrity) and (executor is None or executor.wait):
        require_pdf_engine()                # before grading, not after it (--no-wait makes none)
    if options.data_dir is None:
        click.echo("notice: no --data given; " + STAND_INS[task.task.kind], err=True)
    total = len(set(options.only)) or len(find_submissions(submissions))
    with make_display(progress_mode, total) as display:
        if executor is not None:
            executor.notice = display.notice
        results = evaluate(submissions, task, out_dir, options, progress=display.notice,
                           on_event=display, executor=executor)
    if executor is not None and not executor.wait:
        _submitted(executor, out_dir)
        return
    if as_json:
        click.echo(json.dumps([to_dict(r) for r in results], indent=2))
    else:
        click.echo(evaluation_table(results), err=progress_mode == "jsonl")
        click.echo(f"\nresults: {out_dir}/<student>.json", err=progress_mode == "jsonl")
    if integrity:
        write_integrity(submissions, task, options.labels, out_dir, out_dir / "reports")
    if report:
        write_reports(out_dir, out_dir / "reports", task)
    exit_with(all(r.status == "ok" and r.total == r.possible for r in results))


def _executor(cluster: dict, assignment: str, out_dir: Path, per_gpu: int):
    """None for --executor local (refusing Slurm-only options), else a SlurmExecutor whose
    settings are the cluster options given over the [cluster] tables."""
    kind, no_wait = cluster.pop("executor"), cluster.pop("no_wait")
    cluster_file = cluster.pop("cluster_file")
    if kind == "local":
        given = [k for k, v in cluster.items() if v not in (None, ())]
        if given or no_wait or cluster_file:
            name = (given or ["no_wait" if no_wait else "cluster"])[0].replace("_", "-")
            raise errors.InputError(f"--{name} needs --executor slurm")
        return None
    from grader.run.slurm import SlurmExecutor, load
    from grader.run.store import ResultStore

    spec_file = Path(assignment) if Path(assignment).suffix == ".toml" else None
    settings = load(cluster_file, spec_file, per_gpu=None if per_gpu == Options.per_gpu
                    else per_gpu, **cluster)
    return SlurmExecutor(ResultStore(out_dir), settings, wait=not no_wait)


def _submitted(executor, out_dir: Path) -> None:
    s = executor.submitted
    if s is None:
        click.echo(f"nothing to submit: every student already has a result in {out_dir}")
    else:
        click.echo(f"submitted Slurm array {s.job_id}: {s.tasks} task(s) for {len(s.students)} "
                   f"student(s)\nfollow: grader status {out_dir}\nfinish: grader report "
                   f"{out_dir} --out {out_dir}/reports")
