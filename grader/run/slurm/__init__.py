"""Grading a class as one Slurm job array (`grader evaluate --executor slurm`), and where such a
class stands (`grader status`). What the CLI uses is imported from here."""

from grader.run.slurm.settings import ClusterSettings, load
from grader.run.slurm.status import class_status, status_text
from grader.run.slurm.submit import SlurmExecutor

__all__ = ["ClusterSettings", "SlurmExecutor", "class_status", "load", "status_text"]
