"""Sandboxed, with no student code: can CUDA start in a GPU sandbox on this machine?
(python -m harness.cuda_probe job.json)

The grader runs it once before it trains a class on the GPU: where the sandbox keeps CUDA from
starting, the run stops with the reason instead of failing every student's training.
"""

from __future__ import annotations

import sys

import torch  # noqa: E402
from harness import common  # noqa: E402


def main() -> None:
    job = common.read_job(sys.argv[1])
    common.prepare_paths(job)
    result: dict = {"key": "cuda", "ok": False}
    try:
        x = torch.ones(4, device="cuda")
        result.update(ok=bool((x * 2).sum().item() == 8), count=torch.cuda.device_count(),
                      device=torch.cuda.get_device_name(0))
    except BaseException as exc:    # noqa: BLE001  (whatever CUDA raises is the answer)
        result["error"] = common.describe_error(exc)
    common.finish(job, [result])


if __name__ == "__main__":
    main()
