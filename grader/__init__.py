"""grader: grade a deep-learning class's PyTorch homework.

The package never imports torch at import time: the CLI, the spec loader, predictions.csv
validation and the reports run without it, and student code runs only in the sandbox.
"""

__version__ = "0.5.0"
