"""Grading a class as one Slurm job array (`grader evaluate --executor slurm`), and where such a
class stands (`grader status`). What the CLI uses is imported from here.

Modules, each importing only those listed before it:
- settings.py: the `[cluster]` settings (ClusterSettings, load);
- queue.py:    what Slurm says about an array (squeue/sacct: TaskState) and why a task ended;
- files.py:    the files the submitter and the nodes share in `.slurm/` (the manifest, the jobs
               file, the started markers);
- node.py:     what runs on a compute node (the array task, the references' job, node checks);
- submit.py:   the SlurmExecutor that submits the array and waits for it;
- status.py:   `grader status` (class_status, status_text).
"""

from grader.run.slurm.settings import ClusterSettings, load
from grader.run.slurm.status import class_status, status_text
from grader.run.slurm.submit import SlurmExecutor

__all__ = ["ClusterSettings", "SlurmExecutor", "class_status", "load", "status_text"]
