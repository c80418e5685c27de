"""A real single-node Slurm cluster for the tests and benchmarks: munged, slurmctld and slurmd
started from Debian's packages with every path (config, state, spool, pids, logs, the munge key
and socket) under one temporary folder, and stopped by PID.

    with running_cluster() as cluster:        # or SlurmCluster.start(); cluster.stop()
        os.environ.update(cluster.env)         # SLURM_CONF for sbatch/squeue/scancel/submitit

Accounting: `AccountingStorageType=accounting_storage/none` (slurmdbd needs MySQL: too heavy
for a test machine) plus `JobCompType=jobcomp/filetxt`, so every finished job's exact final
state (COMPLETED, TIMEOUT, CANCELLED, OUT_OF_MEMORY, NODE_FAIL) is written to
`jobcomp.txt` for whoever debugs a test. The grader itself does not depend on either: it
reads final states with `squeue --states=all`, which lists finished jobs for `MinJobAge`
seconds (set to 1 hour here, 300 s by default), and uses `sacct` where a cluster has
accounting. `sacct` fails here, as on any cluster without slurmdbd.

Run as a script to keep a cluster up by hand: `python tests/slurm_cluster.py` prints the
`export SLURM_CONF=...` line and waits for Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel")
PACKAGES = "slurmctld slurmd slurm-client munge"
SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def _which(name: str) -> str | None:
    return shutil.which(name) or next((f"{d}/{name}" for d in SBIN
                                       if os.access(f"{d}/{name}", os.X_OK)), None)


def unavailable_reason() -> str | None:
    """None when a cluster can be started here, else why not (in one sentence)."""
    missing = [d for d in DAEMONS if _which(d) is None]
    if missing:
        return (f"Slurm/munge programs not installed ({', '.join(missing)}); "
                f"apt-get install -y {PACKAGES}")
    if os.geteuid() != 0:
        return "the test cluster runs its daemons as root (SlurmUser=root); not running as root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    with open("/proc/meminfo") as fh:
        kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    return max(512, kb // 1024 - 1024)


SLURM_CONF = """\
ClusterName=grader-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.txt
ReturnToService=2
# finished jobs stay visible to `squeue --states=all` for an hour (the grader reads their
# final state there when there is no accounting)
MinJobAge=3600
# a killed task's processes get SIGKILL 2 s after SIGTERM (default 30 s), so tests are quick
KillWait=2
InactiveLimit=0
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    root: Path                          # everything the cluster writes lives here
    partition: str = "debug"
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    @classmethod
    def start(cls, root: Path | None = None, *, cpus: int | None = None,
              timeout: float = 60.0) -> "SlurmCluster":
        if reason := unavailable_reason():
            raise RuntimeError(reason)
        root = Path(root or tempfile.mkdtemp(prefix="grader-slurm-"))
        cluster = cls(root=root)
        try:
            cluster._start(cpus or os.cpu_count() or 1, timeout)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start(self, cpus: int, timeout: float) -> None:
        root = self.root
        for sub in ("munge", "state", "spool"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(root / "munge", 0o700)
        key = root / "munge" / "munge.key"
        subprocess.run([_which("mungekey"), "--create", f"--keyfile={key}", "--force"],
                       check=True, capture_output=True)
        os.chmod(key, 0o400)
        self._spawn("munged", [_which("munged"), "--foreground", "--force",
                               f"--socket={root}/munge/munge.socket", f"--key-file={key}",
                               f"--pid-file={root}/munge/munged.pid",
                               f"--log-file={root}/munge/munged.log",
                               f"--seed-file={root}/munge/munged.seed"])
        self._wait(lambda: (root / "munge" / "munge.socket").exists(), timeout, "munged")
        host = socket.gethostname().split(".")[0]
        self.conf.write_text(SLURM_CONF.format(
            host=host, root=root, ctld_port=_free_port(), slurmd_port=_free_port(),
            cpus=cpus, memory=_memory_mb(), partition=self.partition))
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-c", "-f", str(self.conf)])
        self._spawn("slurmd", [_which("slurmd"), "-D", "-f", str(self.conf)])
        self._wait(self._node_ready, timeout, "slurmd (node idle in sinfo)")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / f"{name}.stdout", "wb")
        self.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL,
                                                env={**os.environ, **self.env})
        log.close()

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead:
                code = self.processes[dead[0]].returncode
                raise RuntimeError(f"{dead[0]} exited with code {code}; see "
                                   f"{self.root}/{dead[0]}.stdout and the logs there")
            if ready():
                return
            time.sleep(0.3)
        raise RuntimeError(f"{what} not ready after {timeout:.0f} s; logs in {self.root}")

    def _node_ready(self) -> bool:
        out = self.run("sinfo", "-h", "-o", "%T", check=False)
        return out.strip() in ("idle", "mixed", "allocated")

    def run(self, *argv: str, check: bool = True) -> str:
        """Run a Slurm client command against this cluster; its stdout."""
        proc = subprocess.run([_which(argv[0]) or argv[0], *argv[1:]], capture_output=True,
                              text=True, env={**os.environ, **self.env}, timeout=60)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def stop(self) -> None:
        """Cancel what is still queued, then stop the daemons we started, by PID."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            with contextlib.suppress(Exception):
                self.run("scancel", "--full", "--partition", self.partition, check=False)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and self.run(
                        "squeue", "-h", "-t", "PD,R,CG,S", check=False).strip():
                    time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.processes.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def running_cluster(root: Path | None = None, **kwargs):
    cluster = SlurmCluster.start(root, **kwargs)
    try:
        yield cluster
    finally:
        cluster.stop()


def _interrupt(signum, _frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    # SIGTERM too (and SIGINT even where a background shell ignores it): stop the daemons
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    with running_cluster() as c:
        print(f"export SLURM_CONF={c.conf}\n(logs in {c.root}; Ctrl-C or kill PID "
              f"{os.getpid()} stops the cluster)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
