"""The `[cluster]` settings: where and how `grader evaluate --executor slurm` submits.

A course writes them once, in a `[cluster]` table of a TOML file given with `--cluster FILE`
or of the assignment spec itself; command-line options override single values:

    [cluster]
    partition = "gpu"
    account = "ece661"
    time = "02:00:00"            # per array task: minutes, "MM:SS", "HH:MM:SS" or "D-HH:MM:SS"
    gpus_per_task = 1
    students_per_task = 8
    per_gpu = 2                  # students graded at once on one GPU (local executor slots)
    array_parallelism = 16
    sbatch = ["--qos=normal", "--constraint=a100"]
    setup = ["module load cuda/12.4", "source ~/venvs/grader/bin/activate"]
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import InputError, SpecError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class ClusterSettings:
    partition: str | None = None    # Slurm partition; None: the cluster's default partition
    account: str | None = None      # --account to charge; None: the user's default
    time_minutes: int = 60          # wall-clock limit of one array task (a chunk of students);
    #                                 an hour fits 8 students at a few minutes each on a GPU
    gpus_per_task: int = 0          # GPUs per array task (--gres=gpu:N); 0 grades on CPUs
    gres: str | None = None         # a full --gres value (e.g. "gpu:a100:1"), overrides the above
    cpus_per_task: int = 2          # cores per array task, divided among its grading slots
    mem_gb: int | None = None       # memory per array task; None: the partition's default
    students_per_task: int = 4      # students per array task: one task per chunk, not hundreds
    #                                 of tiny jobs that each pay the queue and torch's start-up
    per_gpu: int = 1                # with --gpu: students graded at once per GPU in a task
    #                                 (on CPUs a task grades one student per core it has)
    array_parallelism: int = 32     # array tasks running at once (sbatch --array=...%N)
    sbatch: tuple[str, ...] = ()    # extra sbatch flags ("--qos=high", "--exclusive")
    setup: tuple[str, ...] = ()     # shell lines run before each task (module load, venv)
    poll_seconds: float = 5.0       # how often the submitting side reads the results folder
    #                                 and squeue; a few seconds is cheap for the controller

    def sbatch_parameters(self) -> dict[str, Any]:
        """The extra flags as submitit's additional_parameters ({"qos": "high"})."""
        params: dict[str, Any] = {}
        for flag in self.sbatch:
            name, _, value = flag.lstrip("-").partition("=")
            params[name.replace("-", "_")] = value if value else True
        return params


KEYS = {"partition": str, "account": str, "time": (str, int), "gpus_per_task": int,
        "gres": str, "cpus_per_task": int, "mem_gb": int, "students_per_task": int,
        "per_gpu": int, "array_parallelism": int, "sbatch": list, "setup": list,
        "poll_seconds": (int, float)}
POSITIVE = {"cpus_per_task", "mem_gb", "students_per_task", "per_gpu", "array_parallelism",
            "poll_seconds"}


def parse_time(value: str | int, where: str = "time", path: str | None = None) -> int:
    """Slurm's time formats to whole minutes (rounded up): 90, "90", "30:00", "02:00:00",
    "1-12:00:00"."""
    if isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    else:
        text = str(value).strip()
        m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
        if not m:
            raise SpecError(f"{where}: expected minutes or Slurm's [D-]HH:MM:SS, got {value!r}",
                            path=path)
        days, a, b, c = (int(g) if g else None for g in m.groups())
        if days is not None:     # D-HH[:MM[:SS]]
            seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
        elif c is not None:      # HH:MM:SS
            seconds = a * 3600 + b * 60 + c
        elif b is not None:      # MM:SS
            seconds = a * 60 + b
        else:                    # minutes
            seconds = a * 60
        minutes = -(-seconds // 60)
    if minutes <= 0:
        raise SpecError(f"{where}: a time limit of at least one minute, got {value!r}",
                        path=path)
    return minutes


def format_minutes(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def from_table(table: dict, source: str | None,
               base: ClusterSettings = ClusterSettings()) -> ClusterSettings:
    """A `[cluster]` table over `base`; a wrong key or value names the file and key."""
    return dataclasses.replace(base, **_fields(table, source))


def _fields(table: dict, source: str | None) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise SpecError("[cluster] must be a table", path=source)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KEYS:
            raise SpecError(f"cluster.{key}: unknown key; expected one of "
                            f"{', '.join(sorted(KEYS))}", path=source)
        kinds = KEYS[key] if isinstance(KEYS[key], tuple) else (KEYS[key],)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise SpecError(f"cluster.{key}: expected {' or '.join(k.__name__ for k in kinds)}, "
                            f"got {value!r}", path=source)
        if key == "time":
            values["time_minutes"] = parse_time(value, f"cluster.{key}", source)
        elif key in ("sbatch", "setup"):
            if not all(isinstance(v, str) and v.strip() for v in value):
                raise SpecError(f"cluster.{key}: expected a list of non-empty strings, got "
                                f"{value!r}", path=source)
            if key == "sbatch" and (bad := [v for v in value if not v.startswith("-")]):
                raise SpecError(f"cluster.sbatch: expected sbatch flags such as "
                                f"\"--qos=high\", got {bad[0]!r}", path=source)
            values[key] = tuple(value)
        elif key == "gpus_per_task" and value < 0:
            raise SpecError(f"cluster.{key}: expected 0 or more, got {value!r}", path=source)
        elif key in POSITIVE and value <= 0:
            raise SpecError(f"cluster.{key}: expected a positive number, got {value!r}",
                            path=source)
        else:
            values[key] = value
    return values


def load(path: Path | None = None, spec_path: Path | None = None,
         **overrides: Any) -> ClusterSettings:
    """Defaults, then the spec's `[cluster]` table, then the `--cluster` file's, then the
    command-line values that are not None."""
    settings = ClusterSettings()
    for source in (spec_path, path):
        if source is None:
            continue
        table = _read(Path(source)).get("cluster")
        if table is None:
            if source == path:
                raise SpecError("no [cluster] table in the --cluster file", path=str(source))
            continue
        settings = from_table(table, str(source), settings)
    given = {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()
             if v is not None and v != ()}
    try:
        return from_table(given, None, settings) if given else settings
    except SpecError as exc:    # name the option, not the TOML key: "--students-per-task: ..."
        key, _, rest = exc.message.partition(":")
        raise InputError("--" + key.removeprefix("cluster.").replace("_", "-") + ":" + rest) \
            from None


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError("cluster settings file not found", path=str(path)) from None
    except OSError as exc:
        raise SpecError(f"cannot read cluster settings: {exc}", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise SpecError(f"invalid TOML: {exc}", path=str(path), line=line) from None
