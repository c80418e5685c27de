"""Assignment specs: TOML files an instructor writes, loaded into frozen dataclasses.

Every key is validated; a fault names the file, the key (with its line when it can be found)
and what was expected. Built-in specs live in grader/spec/assignments/ and are listed by
`grader assignments`. The format is documented in docs/assignment.md.
"""

from __future__ import annotations

from pathlib import Path

from grader.errors import SpecError
from grader.spec import reader
from grader.spec.sections import SectionParser
from grader.spec.types import (
    CIFAR10_CLASSES,
    Assignment,
    DatasetSpec,
    GradescopeSpec,
    HeldOutSpec,
    IntegritySpec,
    InterfaceSpec,
    LimitsSpec,
    ModelSpec,
    ParamExpectation,
    PredictionsSpec,
    RubricItem,
    TaskSpec,
    TensorSpec,
    TrainingSpec,
    WeightsSpec,
)

__all__ = ["BUILTIN_DIR", "CIFAR10_CLASSES", "Assignment", "DatasetSpec", "GradescopeSpec",
           "HeldOutSpec", "IntegritySpec", "InterfaceSpec",
           "LimitsSpec", "ModelSpec", "ParamExpectation", "PredictionsSpec", "RubricItem",
           "SpecError", "TaskSpec", "TensorSpec", "TrainingSpec", "WeightsSpec", "builtin_ids",
           "load", "resolve"]

BUILTIN_DIR = Path(__file__).parent / "assignments"


def builtin_ids() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    """A built-in id ("ece661-hw2") or a path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise SpecError(f"assignment file not found (built-in ids: {', '.join(builtin_ids())})",
                            path=str(path))
        return path
    builtin = BUILTIN_DIR / f"{name_or_path}.toml"
    if not builtin.is_file():
        raise SpecError(f"unknown assignment '{name_or_path}': expected a built-in id "
                        f"({', '.join(builtin_ids())}) or a path to a .toml file")
    return builtin


def load(name_or_path: str) -> Assignment:
    path = resolve(name_or_path)
    data, text = reader.read(path)
    return SectionParser(path, text).assignment(data)
