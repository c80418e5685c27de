"""What the tests build, in one place. Everything here looks like a real hand-in or a real
result: Colab cells (`!pip`, `drive.mount`), the course template's class names, `Id,Label`
predictions with CRLF line ends.

- models:    each model's source once (SimpleNN as the template has it, Lab 2 with BatchNorm,
             the CIFAR ResNet, SimpleNN with hooks for hostile code)
- specs:     the small-class assignment spec (one SimpleNN, its rubric) in TOML, and the
             pieces the tests' other specs are built from (spec_toml, simplenn_model, ...)
- notebooks: the one notebook writer, and predictions.csv
- handins:   ECE 661 HW2 hand-ins (three template notebooks, Colab cells)
- results:   EvaluationResult objects for the report and export tests
- integrity: a generated class with every kind of copy planted

Fixtures over these (make_submission, make_notebook, one_model_spec, reference_cache) are in
tests/conftest.py.
"""
