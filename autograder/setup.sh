#!/usr/bin/env bash
# Gradescope autograder set-up (runs once when the image is built). The autograder zip holds
# this file and run_autograder at its top, and a copy of the grader repository in
# source/grader; optionally source/assignment.toml (your spec), source/data (real data) and
# source/labels.csv (held-out labels), all kept out of the student's reach.
set -euo pipefail
apt-get update && apt-get install -y python3 python3-venv python3-pip
python3 -m venv /opt/grader-venv
/opt/grader-venv/bin/pip install /autograder/source/grader
