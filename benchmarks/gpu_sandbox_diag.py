"""Why CUDA does or does not start inside the grader's sandbox on this machine: runs a small
CUDA probe (import torch, one tensor on the GPU) bare, then inside bubblewrap with the grader's
own command line and with one of its options changed at a time, and prints which work.

    python benchmarks/gpu_sandbox_diag.py          # stops once the grader's sandbox starts CUDA
    python benchmarks/gpu_sandbox_diag.py --all    # every variant regardless
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.sandbox.limits import Limits  # noqa: E402
from grader.sandbox.bwrap import Sandbox, bwrap_executable  # noqa: E402

PROBE = [sys.executable, "-c", "import torch; x = torch.zeros(1, device='cuda'); "
         "print('CUDA ok', torch.cuda.get_device_name(0))"]


def replaced(cmd: list[str], old: list[str], new: list[str]) -> list[str]:
    for i in range(len(cmd) - len(old) + 1):
        if cmd[i:i + len(old)] == old:
            return cmd[:i] + new + cmd[i + len(old):]
    return cmd + ["--missing-option-" + "-".join(old)]


def main() -> None:
    os.system("ls -l /dev/nvidia* /dev/shm 2>&1 | head -12; id")
    limits = Limits(wall_seconds=60, memory_mb=4096, processes=64, file_size_mb=512,
                    cpu_seconds=600)
    bwrap = bwrap_executable()
    with Sandbox(limits, gpu=True) as box:
        env = box._env("/opt/grader")
        full = box._bwrap_command(PROBE)
        split = ["--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net",
                 "--unshare-uts", "--unshare-cgroup-try"]
        bare = [bwrap, "--dev-bind", "/", "/", "--"]
        variants = {
            "no bwrap, host environment": (PROBE, None),
            "no bwrap, the sandbox's environment": (PROBE, env),
            "the grader's sandbox": (full, env),
            "with /proc read-only, as until now": (
                replaced(full, ["--proc", "/proc", *box._proc_cover()],
                         ["--proc", "/proc", "--remount-ro", "/proc"]), env),
            "without --cap-drop ALL": (replaced(full, ["--cap-drop", "ALL"], []), env),
            "without --disable-userns": (replaced(full, ["--disable-userns"], []), env),
            "--unshare-all split": (replaced(full, ["--unshare-all"], split), env),
            "  ...less --unshare-pid": (replaced(full, ["--unshare-all"],
                                                 [s for s in split if "pid" not in s]), env),
            "  ...less --unshare-ipc": (replaced(full, ["--unshare-all"],
                                                 [s for s in split if "ipc" not in s]), env),
            "  ...less --unshare-net": (replaced(full, ["--unshare-all"],
                                                 [s for s in split if "net" not in s]), env),
            "  ...less --unshare-cgroup": (replaced(full, ["--unshare-all"],
                                                    [s for s in split if "cgroup" not in s]), env),
            "--dev-bind /dev /dev instead of --dev": (
                replaced(full, ["--dev", "/dev"], ["--dev-bind", "/dev", "/dev"]), env),
            "/sys read-write": (replaced(full, ["--ro-bind-try", "/sys", "/sys"],
                                         ["--bind", "/sys", "/sys"]), env),
            "bare bwrap (host root, no namespaces)": (bare + PROBE, None),
            "bare + --unshare-user": (bare[:1] + ["--unshare-user"] + bare[1:] + PROBE, None),
            "bare + --unshare-pid": (bare[:1] + ["--unshare-pid"] + bare[1:] + PROBE, None),
            "bare + --unshare-ipc": (bare[:1] + ["--unshare-ipc"] + bare[1:] + PROBE, None),
            "bare + --unshare-net": (bare[:1] + ["--unshare-net"] + bare[1:] + PROBE, None),
            "bare + --cap-drop ALL": (bare[:1] + ["--cap-drop", "ALL"] + bare[1:] + PROBE, None),
            "bare + --proc /proc": (bare[:1] + ["--dev-bind", "/", "/", "--proc", "/proc", "--"]
                                    + PROBE, None),
            "bare + --proc /proc read-only": (bare[:1] + ["--dev-bind", "/", "/", "--proc", "/proc",
                                                         "--remount-ro", "/proc", "--"]
                                              + PROBE, None),
        }
        grader_ok = False
        for name, (cmd, environment) in variants.items():
            try:
                r = subprocess.run(cmd, env=environment, capture_output=True, text=True,
                                   timeout=60)
                text = (r.stdout + r.stderr).strip().splitlines()
                print(f"{name:<42} rc {r.returncode}  {text[-1][-110:] if text else ''}",
                      flush=True)
                if (name.startswith("with /proc read-only") and "--all" not in sys.argv
                        and grader_ok):
                    print("(the other variants skipped: the grader's sandbox starts CUDA)")
                    return
                if name == "the grader's sandbox":
                    grader_ok = r.returncode == 0 and "CUDA ok" in r.stdout
            except subprocess.TimeoutExpired:
                print(f"{name:<42} timed out", flush=True)


if __name__ == "__main__":
    main()
