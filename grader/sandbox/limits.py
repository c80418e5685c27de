"""Resource limits for one sandboxed process tree.

Memory and the number of tasks are enforced for the whole tree with a cgroup where this machine
lets us make one (cgroup v2, or v1's memory and pids controllers), else per process with
rlimits (RLIMIT_DATA for memory, RLIMIT_NPROC for processes, which the kernel does not apply
to root). CPU time and file size are rlimits on every machine. Wall time is enforced by the
runner, which kills the whole tree.
"""

from __future__ import annotations

import os
import resource
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Limits:
    wall_seconds: float             # the whole tree is killed after this
    memory_mb: int                  # resident memory of the tree (cgroup) or data per process
    processes: int                  # tasks alive at once
    file_size_mb: int               # largest file one process may write
    cpu_seconds: int                # CPU time of one process

    @classmethod
    def from_spec(cls, spec, *, wall_seconds: float | None = None, **overrides) -> "Limits":
        values = {"wall_seconds": wall_seconds or spec.wall_seconds, "memory_mb": spec.memory_mb,
                  "processes": spec.processes, "file_size_mb": spec.file_size_mb,
                  "cpu_seconds": spec.cpu_seconds}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def human_mb(mb: int) -> str:
    return f"{mb / 1024:g} GiB" if mb >= 1024 and mb % 256 == 0 else f"{mb} MiB"


class Group:
    """A cgroup (v2 or v1 memory+pids) for one run, or nothing where none can be made."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.dirs: dict[str, Path] = {}
        self.version = 0
        name = f"grader-{uuid.uuid4().hex[:12]}"
        try:
            self._make_v2(name) or self._make_v1(name)
        except OSError:
            self.close()
            self.dirs, self.version = {}, 0

    @property
    def active(self) -> bool:
        return bool(self.dirs)

    def _make_v2(self, name: str) -> bool:
        root = CGROUP_ROOT
        if not (root / "cgroup.controllers").exists():
            return False
        own = Path("/proc/self/cgroup").read_text().strip().splitlines()[-1].split("::", 1)[-1]
        parent = root / own.lstrip("/")
        if not {"memory", "pids"} <= set((parent / "cgroup.subtree_control").read_text().split()):
            return False
        d = parent / name
        d.mkdir()
        (d / "memory.max").write_text(str(self.limits.memory_mb * 1024 * 1024))
        (d / "memory.swap.max").write_text("0") if (d / "memory.swap.max").exists() else None
        (d / "pids.max").write_text(str(self.limits.processes))
        self.dirs, self.version = {"unified": d}, 2
        return True

    def _make_v1(self, name: str) -> bool:
        mem, pids = CGROUP_ROOT / "memory", CGROUP_ROOT / "pids"
        if not (mem.is_dir() and pids.is_dir() and os.access(mem, os.W_OK)
                and os.access(pids, os.W_OK)):
            return False
        for controller, base in (("memory", mem), ("pids", pids)):
            d = base / name
            d.mkdir()
            self.dirs[controller] = d
        self.dirs["memory"].joinpath("memory.limit_in_bytes").write_text(
            str(self.limits.memory_mb * 1024 * 1024))
        swap = self.dirs["memory"] / "memory.memsw.limit_in_bytes"
        if swap.exists():
            try:
                swap.write_text(str(self.limits.memory_mb * 1024 * 1024))
            except OSError:
                pass
        self.dirs["pids"].joinpath("pids.max").write_text(str(self.limits.processes))
        self.version = 1
        return True

    def join(self) -> None:
        """Move the calling process (the child, before exec) into the group."""
        for d in self.dirs.values():
            (d / "cgroup.procs").write_text("0")

    def pids(self) -> list[int]:
        found = set()
        for d in self.dirs.values():
            try:
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return sorted(found)

    def kill_all(self, seconds: float = 10.0) -> None:
        """SIGKILL every task until none is left: killed tasks stay in the group until they
        have exited (freeing a large address space takes a while on a busy machine), and a
        group that still has one cannot be removed."""
        deadline = time.monotonic() + seconds
        while pids := self.pids():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)

    def memory_exceeded(self) -> bool:
        """Whether the kernel ran out of memory in the group (killed a task or had to).

        Not "the limit was touched": page cache counts against the limit and is reclaimed
        there in normal operation (v2's "max" event, v1's failcnt), while recent kernels do
        not raise v1's failcnt even for an OOM kill; the OOM counters say what happened."""
        try:
            if self.version == 2:
                events = (self.dirs["unified"] / "memory.events").read_text()
                counts = dict(line.split() for line in events.splitlines())
                return int(counts.get("oom_kill", 0)) > 0 or int(counts.get("oom", 0)) > 0
            if self.version == 1:
                d = self.dirs["memory"]
                control = dict(line.split() for line in
                               (d / "memory.oom_control").read_text().splitlines())
                if "oom_kill" in control:          # Linux 4.13 and later
                    return int(control["oom_kill"]) > 0 or control.get("under_oom") == "1"
                return int((d / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError, KeyError):
            pass
        return False

    def processes_exceeded(self) -> bool:
        try:
            d = self.dirs.get("unified") or self.dirs.get("pids")
            if d is None:
                return False
            events = dict(line.split() for line in (d / "pids.events").read_text().splitlines())
            return int(events.get("max", 0)) > 0
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        self.kill_all()
        for d in self.dirs.values():
            try:
                d.rmdir()
            except OSError:
                pass


def apply_rlimits(limits: Limits, group_active: bool) -> None:
    """Called in the child between fork and exec."""
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not group_active:
        # Without a cgroup the tree's memory cannot be capped as a whole; cap each process's
        # data segment (heap and private mappings, which is where tensors live).
        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_mb * mb,) * 2)
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes,) * 2)
