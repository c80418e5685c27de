#!/usr/bin/env bash
# Gradescope autograder set-up (runs once when the image is built). The autograder zip holds
# this file, run_autograder and a copy of the grader repository in source/grader.
set -euo pipefail
apt-get update && apt-get install -y python3 python3-venv python3-pip
python3 -m venv /opt/grader-venv
/opt/grader-venv/bin/pip install /autograder/source/grader
# Optional: real data and held-out labels for predictions.csv, kept out of the student's reach:
#   /autograder/source/data/cifar-10-batches-py, /autograder/source/labels.csv
