"""The `grader` command: thin click adapters over the core functions.

Each command parses options, calls one core function with keyword arguments, and prints.
Expected failures (GraderError) become one clean message and the documented exit code.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from grader import __version__, errors, spec


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except errors.GraderError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
    return wrapper


ASSIGNMENT = click.option("--assignment", "-a", required=True, metavar="ID|FILE.toml",
                          help="Built-in assignment id (see `grader assignments`) or a spec file.")
NO_SANDBOX = click.option("--no-sandbox", is_flag=True,
                          help="Run student code WITHOUT the sandbox. Unsafe: only for code you "
                               "trust, on machines where bubblewrap cannot run.")


def limit_options(fn):
    for name, help_text in reversed([
            ("timeout", "Wall-clock seconds per student process (default: the spec's)."),
            ("memory-mb", "Memory limit per student process tree in MiB."),
            ("max-processes", "Processes/threads a student process tree may have.")]):
        fn = click.option(f"--{name}", type=int, default=None, help=help_text)(fn)
    return fn


def cluster_options(fn):
    """`evaluate --executor slurm` and its settings (defaults: grader.run.slurm.settings.ClusterSettings,
    then a [cluster] table in the spec or the --cluster file)."""
    for args, kw in reversed([
            (("--executor",), dict(type=click.Choice(["local", "slurm"]), default="local",
                                   show_default=True, help="local: on this machine; slurm: "
                                   "one Slurm job array (see README, Grading on a cluster).")),
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
            (("--sbatch", "sbatch_flags"), dict(multiple=True, metavar="FLAG", help="Extra "
                                                "sbatch flag (--sbatch=--qos=high); repeat.")),
            (("--no-wait",), dict(is_flag=True, help="Submit the array and return (after the "
                                  "reference models' job, unless they are cached); follow "
                                  "with `grader status OUT`, finish with `grader report`."))]):
        fn = click.option(*args, **kw)(fn)
    return fn


def _executor(slurm: dict, assignment: str, out_dir: Path, per_gpu: int):
    """None for --executor local (refusing Slurm-only options), else a SlurmExecutor."""
    kind, no_wait = slurm.pop("executor"), slurm.pop("no_wait")
    cluster_file = slurm.pop("cluster_file")
    if kind == "local":
        given = [k for k, v in slurm.items() if v not in (None, ())]
        if given or no_wait or cluster_file:
            name = (given or ["no_wait" if no_wait else "cluster"])[0].replace("_", "-")
            raise errors.InputError(f"--{name.replace('sbatch-flags', 'sbatch')} needs "
                                    f"--executor slurm")
        return None
    from grader.run.slurm.settings import load
    from grader.run.slurm.submit import SlurmExecutor
    from grader.run.store import ResultStore

    slurm["sbatch"] = slurm.pop("sbatch_flags")
    spec_file = Path(assignment) if Path(assignment).suffix == ".toml" else None
    settings = load(cluster_file, spec_file, per_gpu=per_gpu if per_gpu != 1 else None, **slurm)
    return SlurmExecutor(ResultStore(out_dir), settings, wait=not no_wait)


def _limits(assignment, timeout, memory_mb, max_processes, *, wall_default=None):
    from grader.sandbox.limits import Limits

    return Limits.from_spec(assignment.limits, wall_seconds=timeout or wall_default,
                            memory_mb=memory_mb, processes=max_processes)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grader")
def main() -> None:
    """Grade a deep-learning class's PyTorch homework."""


@main.command("assignments")
@handle_errors
def assignments_cmd() -> None:
    """List the built-in assignments."""
    from grader.cli.terminal import assignments_table

    click.echo(assignments_table([spec.load(i) for i in spec.builtin_ids()]))


@main.command("check")
@click.argument("submission", type=click.Path(path_type=Path))
@ASSIGNMENT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--verbose", "-v", is_flag=True, help="Show every layer, not only differing ones.")
@limit_options
@NO_SANDBOX
@handle_errors
def check_cmd(submission, assignment, as_json, verbose, timeout, memory_mb, max_processes,
              no_sandbox) -> None:
    """Find the models in SUBMISSION (a folder or .zip), build them in the sandbox, check
    shapes and parameter counts layer by layer, and validate predictions.csv.

    Exit code 0: all checks passed; 1: a check failed; 2: usage or spec error."""
    from grader.cli.terminal import check_summary
    from grader.grading.checks import check_submission
    from grader.results import to_dict
    from grader.sandbox.bwrap import require_sandbox

    task = spec.load(assignment)
    require_sandbox(no_sandbox)
    report = check_submission(submission, task, sandboxed=not no_sandbox,
                              limits=_limits(task, timeout, memory_mb, max_processes))
    if as_json:
        click.echo(json.dumps(to_dict(report), indent=2))
    else:
        click.echo(check_summary(report, verbose=verbose))
    sys.exit(errors.EXIT_OK if report.passed else errors.EXIT_FAILED)


@main.command("evaluate")
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
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("grades"),
              show_default=True, help="Where result files (and reports) are written.")
@click.option("--report", is_flag=True, help="Also write PDF reports and exports to OUT/reports.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as a JSON list.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Students graded at once (default: one per core, or --per-gpu per GPU "
                   "with --gpu); the cores are divided among them.")
@click.option("--per-gpu", type=click.IntRange(min=1), default=1, show_default=True,
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
def evaluate_cmd(submissions, assignment, gpu, data_dir, labels, epochs, out_dir, report,
                 as_json, jobs, per_gpu, mps, force, only, integrity, progress_mode, timeout,
                 memory_mb, max_processes, no_sandbox, **slurm) -> None:
    """Retrain each student's models with the canonical routine beside the reference, score
    them and predictions.csv on held-out labels, and award points.

    SUBMISSIONS is one submission (folder or .zip) or a class folder with one subfolder or
    .zip per student. One JSON result per student is written to OUT."""
    from grader.cli.terminal import evaluation_table
    from grader.inputs.handins import find_submissions
    from grader.report.render import require_pdf_engine
    from grader.results import to_dict
    from grader.run.evaluate import Options, evaluate
    from grader.run.progress import make_display
    from grader.sandbox.bwrap import require_sandbox

    task = spec.load(assignment)
    if slurm.get("executor") != "slurm":    # on Slurm the nodes check their own sandbox
        require_sandbox(no_sandbox)
    if (per_gpu != 1 or mps) and not gpu:
        raise errors.InputError("--per-gpu and --mps need --gpu")
    options = Options(data_dir=data_dir, labels=labels, epochs=epochs, gpu=gpu,
                      sandboxed=not no_sandbox, timeout=timeout, memory_mb=memory_mb,
                      processes=max_processes, jobs=jobs, per_gpu=per_gpu, mps=mps,
                      force=force, only=tuple(only))
    executor = _executor(slurm, assignment, out_dir, per_gpu)
    if (report or integrity) and (executor is None or executor.wait):
        require_pdf_engine()                # before grading, not after it (--no-wait makes none)
    if data_dir is None:
        click.echo("notice: no --data given; using the built-in synthetic dataset in the "
                   "CIFAR-10 file format (accuracies are not CIFAR-10 accuracies)", err=True)
    total = len(set(only)) or len(find_submissions(submissions))
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
        _write_integrity(submissions, task, labels, out_dir, out_dir / "reports")
    if report:
        _write_reports(out_dir, out_dir / "reports")
    sys.exit(errors.EXIT_OK if all(r.status == "ok" and r.total == r.possible for r in results)
             else errors.EXIT_FAILED)


def _write_reports(results_dir: Path, out_dir: Path) -> bool:
    from grader.report.render import build_reports

    outcome = build_reports(results_dir, out_dir, jobs=os.cpu_count() or 1)
    click.echo(f"reports: {len(outcome.student_pdfs)} student PDFs, class-summary.pdf, "
               f"gradebook.csv and gradescope/ in {out_dir}")
    for failure in outcome.failures:
        click.echo(f"error: {failure}", err=True)
    return not outcome.failures


@main.command("report")
@click.argument("results_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for the PDFs, gradebook.csv and Gradescope results.")
@handle_errors
def report_cmd(results_dir, out_dir) -> None:
    """Write a PDF per student, the class summary, gradebook.csv and Gradescope results.json
    files from the result files in RESULTS_DIR. An unreadable result file is reported and the
    other reports are still made (exit code 1)."""
    if not Path(results_dir).is_dir():
        raise errors.InputError("results folder not found", path=str(results_dir))
    ok = _write_reports(results_dir, out_dir)
    sys.exit(errors.EXIT_OK if ok else errors.EXIT_FAILED)


@main.command("integrity")
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
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=None,
              help="Result files of `grader evaluate` (layer tables, accuracies): models. "
                   "Default: ./grades, evaluate's default --out, when it exists.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for integrity.pdf, integrity.json, integrity.csv and the heatmap.")
@click.option("--json", "as_json", is_flag=True, help="Print integrity.json's content.")
@handle_errors
def integrity_cmd(class_dir, assignment, starter, sources, labels, public_labels, results_dir,
                  out_dir, as_json) -> None:
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
    report = find_integrity(class_dir, task, IntegrityOptions(
        starter=tuple(starter) + task_starter(task), sources=tuple(sources), labels=labels,
        public_labels=public_labels, results=results_dir))
    outputs = write_outputs(report, out_dir)
    if as_json:
        click.echo(json.dumps(to_json(report), indent=2))
    else:
        click.echo(f"{len(report.flagged)} pair(s) and {len(report.students_flagged)} "
                   f"student(s) worth a look among {len(report.students)} students")
        for rank, pair in enumerate(report.flagged, 1):
            kinds = ", ".join(f"{f.kind} ({f.strength})" for f in pair.flags)
            click.echo(f"{rank:>4}  {pair.a}  {pair.b}  {kinds}")
        for finding in report.students_flagged:
            click.echo(f"      {finding.student}  public-order (strong)")
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(f"integrity: {outputs.pdf}, {outputs.json.name}, {outputs.csv.name}, "
                   f"{outputs.heatmap.name} (instructor only)")


def _write_integrity(class_dir: Path, task, labels: Path | None, results_dir: Path,
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


def _submitted(executor, out_dir: Path) -> None:
    s = executor.submitted
    if s is None:
        click.echo(f"nothing to submit: every student already has a result in {out_dir}")
    else:
        click.echo(f"submitted Slurm array {s.job_id}: {s.tasks} task(s) for {len(s.students)} "
                   f"student(s)\nfollow: grader status {out_dir}\nfinish: grader report "
                   f"{out_dir} --out {out_dir}/reports")


@main.command("status")
@click.argument("results_dir", type=click.Path(path_type=Path))
@handle_errors
def status_cmd(results_dir) -> None:
    """Where a class submitted with `evaluate --executor slurm` stands: graded, running,
    pending, and students whose Slurm task ended without grading them (those get a crashed
    result saying why, and a rerun grades them). Exit code 0 when every student is graded."""
    from grader.run.slurm.status import class_status, status_text

    state = class_status(results_dir)
    click.echo(status_text(state))
    sys.exit(errors.EXIT_OK if state.complete else errors.EXIT_FAILED)


@main.group("data")
def data_group() -> None:
    """Datasets: download CIFAR-10, make the synthetic set, split a test set for students."""


@data_group.command("fetch")
@click.argument("name", type=click.Choice(["cifar10"]))
@click.argument("directory", type=click.Path(path_type=Path))
@handle_errors
def data_fetch_cmd(name, directory) -> None:
    """Download NAME into DIRECTORY with torchvision (needs internet)."""
    from grader.inputs.data import fetch_cifar10

    fetch_cifar10(directory)
    click.echo(f"CIFAR-10 in {directory}/cifar-10-batches-py; use --data {directory}")


@data_group.command("synth")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--train", "n_train", type=int, default=5000, show_default=True)
@click.option("--test", "n_test", type=int, default=10000, show_default=True)
@handle_errors
def data_synth_cmd(directory, seed, n_train, n_test) -> None:
    """Write the built-in synthetic dataset in the CIFAR-10 python format."""
    from grader.inputs.data import write_synthetic_cifar10

    write_synthetic_cifar10(directory, seed=seed, n_train=n_train, n_test=n_test)
    click.echo(f"synthetic CIFAR-10-format data in {directory}")


@data_group.command("split")
@ASSIGNMENT
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset to split (default: the built-in synthetic data).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option("--permute-seed", type=int, default=None,
              help="Shuffle the test images by a secret permutation, so predictions made in the "
                   "public CIFAR-10 order score at chance.")
@handle_errors
def data_split_cmd(assignment, data_dir, out_dir, permute_seed) -> None:
    """Make what students get (test_images.npz, sample_predictions.csv) and what the
    instructor keeps (labels.csv) from the dataset's test split. Both CSV files use the
    assignment's [predictions] header (id_column, label_column) and ids from its first_id."""
    from grader.inputs.data import load_dataset, split_test_set
    from grader.run.evaluate import cache_folder

    task = spec.load(assignment)
    dataset = load_dataset(task.dataset, data_dir, cache_dir=cache_folder() / "data")
    split_test_set(dataset, out_dir, permute_seed=permute_seed, predictions=task.predictions)
    click.echo(f"students get: {out_dir}/test_images.npz, {out_dir}/sample_predictions.csv\n"
               f"keep private: {out_dir}/labels.csv (pass it to evaluate --labels)")


@main.command("gradescope")
@ASSIGNMENT
@click.option("--submission", type=click.Path(path_type=Path),
              default=Path("/autograder/submission"), show_default=True)
@click.option("--results", type=click.Path(path_type=Path),
              default=Path("/autograder/results/results.json"), show_default=True)
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None)
@click.option("--labels", type=click.Path(path_type=Path), default=None)
@click.option("--epochs", type=click.IntRange(min=1), default=None)
@click.option("--gpu", is_flag=True)
@NO_SANDBOX
@handle_errors
def gradescope_cmd(assignment, submission, results, data_dir, labels, epochs, gpu,
                   no_sandbox) -> None:
    """Run as a Gradescope autograder: grade Gradescope's submission folder and write its
    results.json (see autograder/ in the repository)."""
    from grader.run.evaluate import Options
    from grader.run.gradescope import run_autograder
    from grader.sandbox.bwrap import require_sandbox

    task = spec.load(assignment)
    require_sandbox(no_sandbox)
    result = run_autograder(task, submission=submission, results=results, options=Options(
        data_dir=data_dir, labels=labels, epochs=epochs, gpu=gpu, sandboxed=not no_sandbox))
    click.echo(f"{result.total:g} / {result.possible:g} points; wrote {results}")
