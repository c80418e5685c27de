"""Hostile submissions through the real sandbox: containment, and a verdict that says what
happened.

Each test writes a submission whose SimpleNN does one hostile thing in its class body,
`__init__` or `forward`, checks it with `check_submission` in the real sandbox, and asserts the
verdict. `Host.grade` then asserts that containment held: no instructor file changed (held-out
labels, another student's folder, the grader's output folder, the submission itself), the
instructor's secret is nowhere in the report, no process of the run is left, its scratch
folder and cgroups are gone, and the grader received no signal from it. The hostile code
prints what it saw as one `SEEN {json}` line, so a test can tell "tried and failed" from
"never tried".
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import pickletools
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.sandbox import limits as limits_module
from grader.sandbox import bwrap as sandbox
from grader.grading.checks import check_submission
from grader.cli import main
from grader.errors import EXIT_SANDBOX, SandboxUnavailable
from grader.sandbox.limits import Limits
from grader.grading.probe import param_shapes
from grader.sandbox.reports import parse_probes
from grader.results import CheckReport, to_dict
from grader.spec import load
from tests.factories.models import simplenn   # SimpleNN running code at import/init/forward
from tests.factories.specs import simplenn_model, spec_toml

LIMITS = Limits(wall_seconds=30, memory_mb=1024, processes=64, file_size_mb=64, cpu_seconds=120)
# the small spec's SimpleNN, counted but not compared with a reference (limits: LIMITS)
SPEC = spec_toml(simplenn_model(reference=None), course="Security", title="Hostile submissions")


def params_of(fc1: int) -> int:
    return (3 * 8 * 25 + 8) + (8 * 16 * 9 + 16) + (576 * fc1 + fc1) + (fc1 * 84 + 84) + 850


def seen(report: CheckReport) -> dict:
    """What the hostile code printed about its attempts (its one `SEEN {json}` line)."""
    match = re.search(r"^SEEN (.*)$", report.sandbox.output, re.MULTILINE)
    assert match, f"the hostile code never reported: {report.sandbox.output[-2000:]}"
    return json.loads(match[1])


def check(report: CheckReport, check_id: str):
    return next(c for c in report.checks if c.id == check_id)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and folder under root with its mtime and content."""
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_mtime_ns,
                                       None if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*"))}


def leftovers(token: str) -> list[str]:
    """Processes of this test's runs: bwrap's command line names the scratch folder, and the
    sandboxed processes' mount table has it as the source of /sandbox/work."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            seen_by = (proc / "cmdline").read_bytes() + (proc / "mountinfo").read_bytes()
        except OSError:
            continue
        if token.encode() in seen_by:
            found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:120]!r}")
    return found


def wait_for(condition, seconds: float = 5.0) -> bool:
    """Killed processes take a moment to go; poll condition for up to `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@dataclass
class Host:
    """The instructor's machine as a hostile submission would like to see it."""

    root: Path                      # instructor files: labels, submissions/, grades/
    secret: str                     # in every instructor file and in the grader's environment
    token: str                      # names the scratch folder and the markers written outside
    scratch: Path                   # tempfile's folder for the test: the sandbox's temp folder
    groups: list = field(default_factory=list)     # cgroups made for the runs
    signals: list = field(default_factory=list)    # SIGUSR1s the grader received
    markers: list = field(default_factory=list)    # host paths hostile code tries to create

    @property
    def labels(self) -> Path:
        return self.root / "labels.csv"

    @property
    def other(self) -> Path:
        return self.root / "submissions" / "bob" / "models.py"

    @property
    def grades(self) -> Path:
        return self.root / "grades"

    def submission(self, source: str, name: str = "mallory", **files: bytes) -> Path:
        folder = self.root / "submissions" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "models.py").write_text(source, encoding="utf-8")
        for rel, data in files.items():
            (folder / rel).write_bytes(data)
        return folder

    def check(self, folder: Path, *, limits: Limits = LIMITS,
              sandboxed: bool = True) -> CheckReport:
        return check_submission(folder, load(str(self.root.parent / "spec.toml")),
                                limits=limits, sandboxed=sandboxed)

    def grade(self, source: str, *, limits: Limits = LIMITS, sandboxed: bool = True,
              **files: bytes) -> CheckReport:
        """Check a submission made of source (and files), then assert containment held."""
        folder = self.submission(source, **files)
        before = snapshot(self.root)
        report = self.check(folder, limits=limits, sandboxed=sandboxed)
        self.assert_contained(before, report)
        return report

    def assert_contained(self, before: dict, *reports: CheckReport) -> None:
        assert snapshot(self.root) == before, "an instructor file changed"
        for report in reports:
            assert self.secret not in json.dumps(to_dict(report))
        assert wait_for(lambda: not leftovers(self.token)), leftovers(self.token)
        assert list(self.scratch.iterdir()) == [], "the sandbox's scratch folder is left"
        assert not [d for g in self.groups for d in g.dirs.values() if d.exists()]
        assert self.signals == [], "student code signalled the grader"
        assert [m for m in self.markers if os.path.lexists(m)] == []


@pytest.fixture
def host(tmp_path, monkeypatch):
    """Instructor files with a secret in each, the secret in the grader's environment, the
    sandbox's temporary folders under a named scratch folder, its cgroups recorded, and a
    SIGUSR1 handler that notes any signal student code gets through to the grader."""
    token = uuid.uuid4().hex[:12]
    secret = f"SECRET-{uuid.uuid4().hex}"
    root = tmp_path / "instructor"
    h = Host(root=root, secret=secret, token=token, scratch=tmp_path / f"scratch-{token}")
    h.labels.parent.mkdir(parents=True)
    h.labels.write_text(f"id,label\n0,3\n1,8\n# {secret}\n")
    h.other.parent.mkdir(parents=True)
    h.other.write_text(f"# bob's homework {secret}\n")
    h.grades.mkdir()
    (h.grades / "bob.json").write_text(json.dumps({"student": "bob", "total": 97,
                                                   "note": secret}))
    (tmp_path / "spec.toml").write_text(SPEC)
    h.scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(h.scratch))
    monkeypatch.setenv("GRADER_INSTRUCTOR_TOKEN", secret)

    class RecordingGroup(limits_module.Group):
        def __init__(self, limits: Limits) -> None:
            super().__init__(limits)
            h.groups.append(self)

    monkeypatch.setattr(sandbox, "Group", RecordingGroup)
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: h.signals.append(signum))
    try:
        yield h
    finally:
        signal.signal(signal.SIGUSR1, previous)
        for marker in h.markers:        # only there if containment broke
            Path(marker).unlink(missing_ok=True)


def cgroup_limits_work() -> bool:
    group = limits_module.Group(LIMITS)
    try:
        return group.active
    finally:
        group.close()


needs_cgroup = pytest.mark.skipif(not cgroup_limits_work(), reason="no writable cgroup (v2, or "
                                  "v1 memory+pids) here: limits fall back to per-process rlimits")


# 1. Reading outside its copy -------------------------------------------------------------------

@pytest.mark.sandbox
def test_reads_outside_its_copy_find_nothing(host):
    home = Path.home()
    bound = {Path(p).relative_to(home).parts[0] for p in (sys.prefix, sys.base_prefix)
             if Path(p).is_relative_to(home) and Path(p) != home}
    home_files = [str(p) for p in sorted(home.iterdir())
                  if p.is_file() and p.name not in bound][:3]
    files = [str(host.labels), str(host.other), str(host.grades / "bob.json"),
             "/proc/1/cmdline", "/etc/shadow", *home_files]
    folders = [str(host.other.parent), str(host.root), str(home), "/dev"]
    report = host.grade(simplenn(init=f"""
        import json, os, signal
        seen = {{}}
        for path in {files!r}:
            try:
                with open(path, "rb") as fh:
                    seen[path] = fh.read(400).decode("utf-8", "replace")
            except OSError as exc:
                seen[path] = type(exc).__name__
        for folder in {folders!r}:
            try:
                seen[folder] = sorted(os.listdir(folder))
            except OSError as exc:
                seen[folder] = type(exc).__name__
        seen["pids"] = sorted(p for p in os.listdir("/proc") if p.isdigit())
        for pid in seen["pids"]:      # pid 1 is bwrap, started with the grader's environment
            with open(f"/proc/{{pid}}/environ", "rb") as fh:
                seen[f"environ {{pid}}"] = sorted(
                    v.split(b"=")[0].decode() for v in fh.read().split(b"\\0") if v)
        try:
            os.kill({os.getpid()}, signal.SIGUSR1)      # the grader's pid on the host
            seen["kill"] = "sent"
        except OSError as exc:
            seen["kill"] = type(exc).__name__
        print("SEEN " + json.dumps(seen))
        open({str(host.labels)!r}).read()
    """))
    got = seen(report)
    for path in (host.labels, host.other, host.grades / "bob.json", host.other.parent,
                 host.root, "/etc/shadow", *home_files):
        assert got[str(path)] == "FileNotFoundError", path
    assert got[str(home)] == "FileNotFoundError" or set(got[str(home)]) <= bound
    assert got["/proc/1/cmdline"] != Path("/proc/1/cmdline").read_bytes()[:400].decode(
        "utf-8", "replace"), "sees the host's init"
    assert str(os.getpid()) not in got["pids"] and len(got["pids"]) <= 4
    assert got["kill"] == "ProcessLookupError"
    assert not [d for d in got["/dev"] if "nvidia" in d]
    assert "PATH" in got["environ 1"] and "PATH" in got[f"environ {got['pids'][-1]}"]
    assert "GRADER_INSTRUCTOR_TOKEN" not in json.dumps(got)   # not in its environ or bwrap's
    builds = check(report, "simplenn.builds")
    assert not builds.passed and "FileNotFoundError" in builds.message
    assert str(host.labels) in builds.message and not report.passed


# 2. Sockets ------------------------------------------------------------------------------------

@pytest.fixture
def listener():
    """A TCP server on the host's loopback; yields (port, connections it accepted)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except OSError:
                continue
            accepted.append(peer)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(timeout=5)
    server.close()


@pytest.mark.sandbox
def test_no_network_inside(host, listener):
    port, accepted = listener
    report = host.grade(simplenn(init=f"""
        import json, socket
        seen = {{}}
        try:
            seen["dns"] = str(socket.getaddrinfo("pypi.org", 443)[0])
        except OSError as exc:
            seen["dns"] = type(exc).__name__
        try:
            socket.create_connection(("1.1.1.1", 80), timeout=3).close()
            seen["outside"] = "connected"
        except OSError as exc:
            seen["outside"] = f"{{type(exc).__name__}}: {{exc}}"
        print("SEEN " + json.dumps(seen))
        socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    """))
    got = seen(report)
    assert got["dns"] == "gaierror"
    assert "Network is unreachable" in got["outside"]
    assert accepted == [], "student code reached a server on the host's loopback"
    builds = check(report, "simplenn.builds")
    assert not builds.passed and "ConnectionRefusedError" in builds.message
    assert "without network access" in builds.message


# 3. Processes ----------------------------------------------------------------------------------

@needs_cgroup
@pytest.mark.sandbox
def test_hundreds_of_processes_hit_the_limit_and_all_die(host):
    # Daemons in their own sessions: a process-group kill would miss every one of them.
    report = host.grade(simplenn(init="""
        import json, os
        started = 0
        for _ in range(300):
            try:
                os.posix_spawn("/bin/sleep", ["sleep", "3600"], {}, setsid=True)
                started += 1
            except OSError:
                pass
        print("SEEN " + json.dumps({"started": started}))
    """))
    # the cap is the spec's processes plus the runtime's own threads (torch's pools)
    assert 0 < seen(report)["started"] < LIMITS.processes + sandbox.Sandbox(LIMITS).runtime_tasks()
    assert report.sandbox.status == "processes"
    assert report.sandbox.reason == f"process limit of {LIMITS.processes} reached"
    assert not check(report, "sandbox.limits").passed and not report.passed


# 4. Memory -------------------------------------------------------------------------------------

@needs_cgroup
@pytest.mark.sandbox
def test_memory_far_over_the_limit_names_the_limit_and_stage(host):
    report = host.grade(simplenn(init="self.hog = bytearray(8 << 30)"))
    assert report.sandbox.status == "memory"
    assert report.sandbox.reason == "memory limit of 1 GiB exceeded while building SimpleNN"
    assert check(report, "sandbox.limits").message == report.sandbox.reason
    assert not check(report, "simplenn.builds").passed and not report.passed


# 5. Infinite loops -----------------------------------------------------------------------------

@pytest.mark.sandbox
def test_infinite_loops_time_out_naming_the_stage(host):
    short = dataclasses.replace(LIMITS, wall_seconds=20)
    folders = [host.submission(simplenn(init="while True: pass"), "loop-in-init"),
               host.submission(simplenn(forward="while True: pass"), "loop-in-forward")]
    before = snapshot(host.root)
    with ThreadPoolExecutor(2) as pool:          # both wait out the wall clock at once
        building, running = pool.map(lambda f: host.check(f, limits=short), folders)
    host.assert_contained(before, building, running)
    assert building.sandbox.status == running.sandbox.status == "timeout"
    assert building.sandbox.reason == "wall-clock limit of 20 s exceeded while building SimpleNN"
    assert running.sandbox.reason == ("wall-clock limit of 20 s exceeded while running forward "
                                      "passes of SimpleNN")
    assert not building.passed and not running.passed


# 6 and 7. Forged output, then exit status 0 ----------------------------------------------------

FORGED = {"submission": "mallory", "passed": True, "checks": [
    {"id": "simplenn.params", "passed": True, "message": "82,030 trainable parameters"}],
    "models": [{"key": "simplenn", "ok": True, "stage": "done", "param_file": "params.pt"}]}


@pytest.mark.parametrize("where, code, stage, message", [
    ("body", "os._exit(0)", "importing SimpleNN",
     "the process exited with status 0 before the grader's harness finished while importing "
     "SimpleNN: student code called exit() or os._exit()"),
    ("init", "sys.exit(0)", None,
     "SimpleNN() failed: SystemExit: the model code called sys.exit(0) (or exit()), which would "
     "end the grader's process"),
], ids=["os._exit-at-import", "sys.exit-in-init"])
@pytest.mark.sandbox
def test_forged_results_on_stdout_then_exit_0_do_not_pass(host, where, code, stage, message):
    forged = json.dumps(FORGED)
    hostile = f"""
        import os, sys
        print({forged!r})
        print({forged!r}, file=sys.stderr)
        sys.stdout.flush()
        {code}
    """
    report = host.grade(simplenn(**{where: hostile}))
    assert not report.passed
    assert forged in report.sandbox.output           # captured as text, never parsed
    assert report.models[0].params is None
    if stage:      # the whole process ended: the sandbox's verdict says so
        assert report.sandbox.status == "crashed" and report.sandbox.exit_code == 0
        assert report.sandbox.reason == message
        assert not check(report, "simplenn.builds").passed
    else:          # the harness caught SystemExit: the model's check says so
        assert report.sandbox.status == "ok"
        assert check(report, "simplenn.builds").message == message


# 8. Writing outside its scratch area, and getting out ------------------------------------------

@pytest.mark.sandbox
def test_writes_outside_and_escapes_change_nothing_on_the_host(host):
    site = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
    pth = f"{site}/grader-hostile-{host.token}.pth"     # would run code in every python here
    host.markers += [f"/tmp/grader-hostile-{host.token}", pth,
                     str(Path.home() / f"grader-hostile-{host.token}")]
    original = host.root / "submissions" / "mallory" / "models.py"
    targets = [str(host.labels), str(host.other), str(host.grades / "mallory.json"),
               str(original), *host.markers[:1], host.markers[2]]
    report = host.grade(simplenn(init=f"""
        import ctypes, json, os
        seen = {{}}

        def attempt(label, action):
            try:
                action()
                seen[label] = "done"
            except OSError as exc:
                seen[label] = f"{{type(exc).__name__}}: {{exc}}"

        def write(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as fh:
                fh.write("pwned")

        for path in {targets!r}:
            attempt(path, lambda path=path: write(path))
        libc = ctypes.CDLL(None, use_errno=True)

        def remount():        # MS_REMOUNT | MS_BIND: make the read-only bind writable
            if libc.mount(None, {site!r}.encode(), None, 32 | 4096, None) != 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

        def sysctl():         # writes back the value it read: no change even if it worked
            with open("/proc/sys/vm/swappiness") as fh:
                value = fh.read()
            with open("/proc/sys/vm/swappiness", "w") as fh:
                fh.write(value)

        attempt("remount", remount)
        attempt("sysctl", sysctl)
        child = os.fork()     # a nested user namespace: every capability again, in a child
        if child == 0:
            os._exit(0 if libc.unshare(0x10000000) == 0 else ctypes.get_errno())
        code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        seen["userns"] = "done" if code == 0 else os.strerror(code)
        print("SEEN " + json.dumps(seen))
        write({pth!r})
    """))
    got = seen(report)
    assert got["remount"].startswith("PermissionError"), got["remount"]
    assert "Read-only file system" in got["sysctl"]
    if sandbox.hardening():         # bwrap >= 0.8: --disable-userns
        assert got["userns"] == os.strerror(errno.ENOSPC)
    assert set(targets) <= set(got)                  # it tried them all (and host is intact)
    builds = check(report, "simplenn.builds")
    assert not builds.passed
    assert "Read-only file system" in builds.message and pth in builds.message


# 9. Tampering with torch -----------------------------------------------------------------------

@pytest.mark.sandbox
def test_monkeypatched_parameter_count_is_recounted_and_flagged(host):
    true_count = params_of(fc1=240)
    report = host.grade(simplenn(fc1=240, init="""
        fake = [torch.zeros(82030, requires_grad=True)]
        nn.Module.parameters = lambda self, recurse=True: iter(fake)
        nn.Module.named_parameters = lambda self, *a, **k: iter([("weight", fake[0])])
        torch.Tensor.numel = lambda self: 82030
    """))
    assert true_count != 82030
    assert report.models[0].params == true_count
    params = check(report, "simplenn.params")
    assert not params.passed and params.message.startswith(f"{true_count:,} trainable")
    tampering = check(report, "sandbox.tampering")
    assert not tampering.passed
    assert report.sandbox.tampering == ["torch.Tensor.numel", "torch.nn.Module.named_parameters",
                                        "torch.nn.Module.parameters"]
    assert all(name in tampering.message for name in report.sandbox.tampering)


# 10. Malicious pickles -------------------------------------------------------------------------

class Payload:
    """Unpickling it runs a shell command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def malicious_pth(marker: Path, path: Path) -> bytes:
    import torch

    torch.save({"fc.weight": Payload(f"touch {marker}")}, path)
    with zipfile.ZipFile(path) as zf:
        pickled = zf.read(next(n for n in zf.namelist() if n.endswith("data.pkl")))
    calls = [arg for op, arg, _ in pickletools.genops(pickled) if op.name == "GLOBAL"]
    assert f"{os.name} system" in calls, calls       # live: unpickling it calls os.system
    return path.read_bytes()


def test_trusted_side_refuses_a_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    malicious_pth(marker, tmp_path / "model.pth")
    assert param_shapes(tmp_path, "model.pth") is None
    assert not marker.exists()


def test_trusted_side_refuses_a_compressed_params_file(tmp_path):
    import numpy as np

    np.savez(tmp_path / "plain.npz", w=np.zeros(4_000_000, np.float32))   # 16 MB stored
    with zipfile.ZipFile(tmp_path / "plain.npz") as zin, \
            zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    assert (tmp_path / "bomb.npz").stat().st_size < 1_000_000     # inflates 16-fold and more
    assert param_shapes(tmp_path, "plain.npz") == {"w": [4_000_000]}
    assert param_shapes(tmp_path, "bomb.npz") is None


def test_trusted_side_reads_shapes_without_loading_arrays_or_pickles(tmp_path):
    import numpy as np

    np.savez(tmp_path / "objects.npz", w=np.array([{"a": 1}], dtype=object))   # a pickle inside
    assert param_shapes(tmp_path, "objects.npz") == {"w": [1]}
    np.save(tmp_path / "lone.npy", np.zeros(3))                   # not an archive
    assert param_shapes(tmp_path, "lone.npy") is None
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from grader.grading.probe import param_shapes; "
            f"param_shapes(Path({str(tmp_path)!r}), 'objects.npz'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.sandbox
def test_exported_params_overwritten_with_a_pickle_run_nothing_here(host, tmp_path):
    marker = tmp_path / "pwned"
    host.markers.append(str(marker))
    payload = malicious_pth(marker, tmp_path / "payload.pth")
    # The harness's own exit, patched: the params file it exported becomes the shipped pickle
    # after it is written and before the trusted side loads it.
    report = host.grade(simplenn(init="""
        import os, shutil
        from harness import common
        real_exit = common._exit

        def poison_then_exit(code):
            for name in os.listdir(common.OUT):
                if name.startswith("params-"):
                    shutil.copyfile("model.pth", os.path.join(common.OUT, name))
            real_exit(code)

        common._exit = poison_then_exit
    """), **{"model.pth": payload})
    assert not marker.exists()
    assert check(report, "simplenn.builds").passed and check(report, "simplenn.forward").passed
    assert report.models[0].params is None and not check(report, "simplenn.params").passed


# 11. Downloads ---------------------------------------------------------------------------------

@pytest.mark.sandbox
def test_downloading_pretrained_weights_fails_and_says_why(host):
    report = host.grade(simplenn(init="""
        import json, urllib.request
        import torchvision
        try:    # ** hides the weights from the grader's static rewrite to weights=None
            torchvision.models.resnet18(**{"weights": "DEFAULT"})
            seen = "downloaded"
        except Exception as exc:
            seen = f"{type(exc).__name__}: {exc}"
        print("SEEN " + json.dumps({"torchvision": seen}))
        urllib.request.urlopen("https://download.pytorch.org/models/resnet18-f37072fd.pth",
                               timeout=5)
    """))
    assert seen(report)["torchvision"].startswith("URLError")
    builds = check(report, "simplenn.builds")
    assert not builds.passed and builds.message.startswith(
        "SimpleNN() failed: URLError: the grader runs model code without network access")


# Traps left for the trusted side ---------------------------------------------------------------

@pytest.mark.sandbox
def test_links_and_fifos_left_in_out_neither_leak_nor_hang(host):
    # stage is read for the verdict sentence; result.json is read next. A symlink would put
    # the instructor's file into the student's report, a FIFO would block the grader forever.
    source = simplenn(init=f"""
        import os
        os.remove("/sandbox/out/stage")
        os.symlink({str(host.labels)!r}, "/sandbox/out/stage")
        os.mkfifo("/sandbox/out/result.json")
        os.symlink({str(host.labels)!r}, "/sandbox/out/params-simplenn.pt")
        os._exit(3)
    """)
    outcome: dict = {}

    def grade() -> None:
        try:
            outcome["report"] = host.grade(source)
        except BaseException as exc:  # re-raised below, in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=grade, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the grader blocked reading a FIFO left in /sandbox/out"
    if "error" in outcome:
        raise outcome["error"]
    report = outcome["report"]
    assert report.sandbox.status == "crashed"
    assert report.sandbox.reason == "the process exited with status 3"


@pytest.mark.sandbox
def test_forged_result_file_with_the_nonce_does_not_crash_the_grader(host):
    # The nonce is in /sandbox/job/job.json, readable by student code; what it writes is data.
    report = host.grade(simplenn(init="""
        import json, os
        job = json.load(open("/sandbox/job/job.json"))
        bad = {"key": "simplenn", "ok": True, "stage": "done", "outputs": [1, "x"],
               "error": "boom", "layers": "abc", "order": 5, "param_file": ["x"],
               "trace": 3, "tampering": "none"}
        with open(os.path.join(job["out"], "result.json"), "w") as fh:
            json.dump({"nonce": job["nonce"], "models": [bad, 7, "text"]}, fh)
        os._exit(0)
    """))
    assert report.sandbox.status == "ok"        # exited 0 with a result file: looks finished
    assert not check(report, "simplenn.builds").passed and not report.passed


def test_malformed_result_files_count_as_none(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with sandbox.Sandbox(LIMITS) as box:
        out = box.root / "out"
        (out / "result.json").write_text("[" * 100_000 + "]" * 100_000)
        assert box._read_json("result.json", "nonce") is None
        (out / "result.json").write_text(json.dumps({"nonce": "other", "models": []}))
        assert box._read_json("result.json", "nonce") is None
        (out / "stage").write_bytes(b"\xff\xfe building " + b"x" * 10_000)
        assert box.stage() == "\ufffd\ufffd building " + "x" * 188
    good = {"key": "simplenn", "ok": True, "stage": "done", "outputs": [
        {"batch": 1, "shape": [1, 10], "dtype": "float32", "finite": True}],
        "layers": [{"name": "fc", "type": "Linear", "weight_shape": [10, 3],
                    "output_shape": None, "kernel": None}], "flops": 60}
    reports = parse_probes({"models": [good, dict(good, key="bad", outputs=[1]),
                                       dict(good, key="bad2", layers=[{"name": "fc"}]),
                                       dict(good, key="bad3", flops=True), "x", 7]})
    assert list(reports) == ["simplenn"]
    assert reports["simplenn"].order == () and reports["simplenn"].flops == 60
    assert parse_probes({"models": "x"}) == {} and parse_probes(None) == {}


def test_a_forged_non_finite_figure_is_no_figure_and_the_result_can_be_stored(tmp_path):
    """Student code can write the harness's JSON, and json.loads reads NaN and Infinity: a
    result holding one could not be written (allow_nan=False) and would stop the class."""
    import json as json_module

    import numpy as np

    from grader.grading.retrain import score_training
    from grader.results import to_dict, write_json_atomic
    from grader.sandbox.bwrap import RunOutcome
    from grader.sandbox.reports import parse_training

    forged = json_module.loads('{"models": [{"key": "simplenn", "ok": false, "stage": "train",'
                               ' "seconds": NaN, "error": {"type": "RuntimeError"}},'
                               ' {"key": "big", "ok": false, "seconds": 1e999}]}')
    reports = parse_training(forged)
    assert reports["simplenn"].seconds is None and reports["big"].seconds is None
    outcome = RunOutcome(status="ok", reason="", exit_code=0, seconds=1.0, output="",
                         result=forged, out_dir=tmp_path)
    result = score_training("simplenn", reports["simplenn"], outcome, np.zeros(4, np.int64), 10)
    assert result.seconds == 0.0 and not result.ok
    write_json_atomic(tmp_path / "result.json", to_dict(result))       # raises on NaN


# GPUs, --no-sandbox, and no bubblewrap ---------------------------------------------------------

def test_bwrap_command_drops_privileges_and_shows_no_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with sandbox.Sandbox(LIMITS) as box:
        cmd = box._bwrap_command(["python"])
    text = " ".join(cmd)
    assert "nvidia" not in text and "--dev-bind" not in text and " /sys" not in text
    assert "--setenv CUDA_VISIBLE_DEVICES  --" in text         # set to the empty string
    assert "--unshare-all --cap-drop ALL" in text and "--clearenv" in text
    assert "--proc /proc --remount-ro /proc" in text
    assert str(tmp_path) in text and not any(str(Path.home()) == a for a in cmd)


@pytest.mark.sandbox
def test_gpu_sandbox_lets_cuda_name_its_threads_and_keeps_the_host_proc_read_only(tmp_path,
                                                                                   monkeypatch):
    # CUDA names its threads as it starts (pthread_setname_np on another thread writes
    # /proc/<pid>/task/<tid>/comm) and fails with error 304 on a read-only /proc; the host-wide
    # files of /proc must stay read-only all the same (the grader may run as root)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    script = textwrap.dedent("""
        import ctypes, json, os, threading
        libc = ctypes.CDLL(None, use_errno=True)
        done = threading.Event()
        worker = threading.Thread(target=done.wait)
        worker.start()
        seen = {"setname": libc.pthread_setname_np(ctypes.c_ulong(worker.ident),
                                                   b"cuda-EvtHandlr")}
        with open(f"/proc/self/task/{worker.native_id}/comm") as fh:
            seen["comm"] = fh.read().strip()
        done.set()
        worker.join()
        for path in ("/proc/sys/vm/swappiness", "/proc/sys/kernel/core_pattern"):
            try:                # opened for writing, never written: no change even if it worked
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                seen[path] = "opened"
            except OSError as exc:
                seen[path] = exc.errno
        # on a read-only mount, whoever the grader runs as: every entry of /proc but the
        # processes' folders (and the links into them)
        seen["writable"] = sorted(
            name for name in os.listdir("/proc") if not name.isdigit()
            and not os.path.islink(f"/proc/{name}")
            and not os.statvfs(f"/proc/{name}").f_flag & os.ST_RDONLY)
        seen["own"] = not os.statvfs("/proc/self/task").f_flag & os.ST_RDONLY
        print(json.dumps(seen))
    """)
    got = {}
    for gpu in (False, True):
        with sandbox.Sandbox(LIMITS, gpu=gpu) as box:
            run = subprocess.run(box._bwrap_command([sys.executable, "-c", script]),
                                 env=box._env("/opt/grader"), capture_output=True, text=True,
                                 timeout=60)
        assert run.returncode == 0, run.stderr
        got[gpu] = json.loads(run.stdout)
    assert got[False]["setname"] == errno.EROFS and got[False]["comm"] != "cuda-EvtHandlr"
    assert got[True]["setname"] == 0 and got[True]["comm"] == "cuda-EvtHandlr"
    assert got[False]["own"] is False and got[True]["own"] is True
    for seen in got.values():
        assert seen["writable"] == [], seen["writable"]
        for path in ("/proc/sys/vm/swappiness", "/proc/sys/kernel/core_pattern"):
            assert seen[path] in (errno.EROFS, errno.EACCES), (path, seen)


@pytest.mark.sandbox
def test_no_sandbox_still_checks_a_benign_model(host):
    report = host.grade(simplenn(), sandboxed=False)
    assert report.passed, [c.message for c in report.checks if not c.passed]
    assert report.sandbox.sandboxed is False and report.models[0].params == 82030


@pytest.mark.sandbox
def test_unusable_bubblewrap_refuses_student_code(host, monkeypatch):
    monkeypatch.setattr(sandbox, "unavailable_reason", lambda: "bubblewrap cannot create "
                        "namespaces here: No permissions")
    with pytest.raises(SandboxUnavailable) as info:
        sandbox.require_sandbox(no_sandbox=False)
    assert info.value.exit_code == EXIT_SANDBOX == 3 and "--no-sandbox" in str(info.value)
    sandbox.require_sandbox(no_sandbox=True)        # the instructor's explicit choice
    folder = host.submission(simplenn())
    with pytest.raises(SandboxUnavailable):
        check_submission(folder, load(str(host.root.parent / "spec.toml")), limits=LIMITS)
    result = CliRunner().invoke(main, ["check", str(folder), "-a",
                                       str(host.root.parent / "spec.toml")])
    assert result.exit_code == EXIT_SANDBOX
    assert "No permissions" in result.output and "--no-sandbox" in result.output
