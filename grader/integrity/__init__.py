"""Integrity checks across a class (issue 12): copied code, copied models, copied predictions.

`find_integrity(class_dir, assignment, IntegrityOptions(...))` returns an IntegrityReport;
`write_outputs(report, out_dir)` writes integrity.pdf, integrity-heatmap.svg, integrity.json and
integrity.csv. Modules: code (copydetect), documents (a student's code as one text, and
matching regions located in its files and cells), models (architecture fingerprints), predictions
(shared-error statistics, agreement, public order), findings (flags and ranking), run (the
orchestration), output (JSON, CSV), report (PDF, heatmap). Student code is only read.
"""

from grader.integrity.findings import IntegrityReport, Thresholds
from grader.integrity.report import IntegrityOutputs, write_outputs
from grader.integrity.run import IntegrityOptions, find_integrity

__all__ = ["IntegrityOptions", "IntegrityOutputs", "IntegrityReport", "Thresholds",
           "find_integrity", "write_outputs"]
