"""The machine's NVIDIA GPUs as `nvidia-smi -L` lists them, without importing torch: which this
process may use (by UUID, after CUDA_VISIBLE_DEVICES) and what each is called."""

from __future__ import annotations

import os
import re
import subprocess

_GPU_LINE = re.compile(r"^GPU (\d+): (.+?) \(UUID: (GPU-[0-9a-fA-F-]+)\)")


def _listed(nvidia_smi_l: str) -> list[tuple[str, str, str]]:
    """(index, name, UUID) per GPU line of `nvidia-smi -L` (MIG lines are skipped)."""
    return [(m[1], m[2], m[3]) for line in nvidia_smi_l.splitlines()
            if (m := _GPU_LINE.match(line))]


def parse_gpu_list(nvidia_smi_l: str, visible: str | None) -> list[str]:
    """UUIDs of the GPUs this process may use, from `nvidia-smi -L` and CUDA_VISIBLE_DEVICES
    (indices or UUIDs, comma-separated; empty: none)."""
    gpus = _listed(nvidia_smi_l)
    if visible is None:
        return [uuid for _, _, uuid in gpus]
    chosen = []
    for item in (v.strip() for v in visible.split(",")):
        if not item:
            continue
        for index, _, uuid in gpus:
            if item == index or (item.startswith("GPU-") and uuid.startswith(item)):
                chosen.append(uuid)
    return chosen


def gpu_names(nvidia_smi_l: str) -> dict[str, str]:
    """{UUID: name} from `nvidia-smi -L` ("NVIDIA H200", "NVIDIA A100-SXM4-80GB", ...)."""
    return {uuid: name for _, name, uuid in _listed(nvidia_smi_l)}


def _nvidia_smi_l() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def visible_gpus() -> list[str]:
    """The GPUs visible to this process, by UUID."""
    listed = _nvidia_smi_l()
    return parse_gpu_list(listed, os.environ.get("CUDA_VISIBLE_DEVICES")) if listed else []


def cuda_device_label(gpu_id: str | None) -> str:
    """What a result records as its device when it trained on CUDA: "cuda (NVIDIA H200)" for
    the slot's GPU (gpu_id, a UUID; None: the first visible one), "cuda" when nvidia-smi does
    not say. For people reading reports: on a cluster of mixed GPUs it tells which one graded."""
    listed = _nvidia_smi_l()
    if not listed:
        return "cuda"
    names = gpu_names(listed)
    uuid = gpu_id or next(iter(parse_gpu_list(listed, os.environ.get("CUDA_VISIBLE_DEVICES"))),
                          None)
    name = names.get(uuid or "")
    return f"cuda ({name})" if name else "cuda"
