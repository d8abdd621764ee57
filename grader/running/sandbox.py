"""Run one command in a bubblewrap sandbox with resource limits; collect its stdout, stderr and its reply on fd 3.

The sandbox sees a read-only runtime (``/usr``, the merged-/usr symlinks, ``/etc/ld.so.cache``, ``/etc/localtime``,
this interpreter's installation and virtual environment) plus the caller's ``ro_binds``; ``/tmp`` and ``/dev/shm`` are
private, size-capped tmpfs; there is no network, a fresh pid/ipc/uts namespace, a new session (no TIOCSTI), no
capabilities, and an environment built from scratch. ``/usr/share/datasets`` and every ``hide`` path are covered by an
empty read-only tmpfs (a hidden file reads as empty).

How the limits are enforced (each choice was measured on Linux 6.18, bubblewrap 0.8):

* Processes: ``RLIMIT_NPROC``, set inside the sandbox with util-linux ``prlimit``. The kernel ignores it for uid 0, and
  ``bwrap --unshare-user --uid 65534`` run by root maps the sandbox user to host uid 0, so a root caller (the usual
  grading setup) runs bwrap without a user namespace and has util-linux ``setpriv`` drop the command to an unused
  host uid, unique per concurrent sandbox, so that the count covers that sandbox alone. (Running bwrap itself as an
  unprivileged uid does not work: bubblewrap 0.8 resolves every bind source with realpath(), which fails below the
  0700 ``/root`` holding pyenv.) A non-root caller gets bwrap's user namespace, ``--disable-userns`` and the same
  ``prlimit``. Linux counts threads as processes: TensorFlow starts about one thread per core per pool, so cap its
  pools (``TF_NUM_INTRAOP_THREADS``, ``TF_NUM_INTEROP_THREADS``, ``OMP_NUM_THREADS``) on machines with many cores.
* Memory: ``RLIMIT_DATA`` (private writable memory) per process, not ``RLIMIT_AS``: TensorFlow reserves address space
  it never uses (thread stacks, one malloc arena reservation per thread), which grows with the core count, while
  ``import tensorflow`` plus a small ``fit`` needs 0.4 GB of data segment with 9 threads and 0.9 GB with 69. A
  process over the limit gets a ``MemoryError``. Because per-process limits do not bound a family of processes, a
  watchdog also sums the proportional set size (PSS) of the whole process tree four times a second and kills the
  sandbox above the same limit. Memory that needs no mapping would escape that sum, so a seccomp filter makes
  ``memfd_create`` and SysV ``shmget`` fail (x86-64 and arm64; elsewhere they stay open). Not counted: tmpfs files
  (capped by ``Limits.tmp_mb``) and kernel buffers (pipes, sockets); a memory cgroup would close that gap where one
  can be delegated.
* CPU time (``Limits.cpu_seconds``): the same watchdog sums user + system time of the process tree (each process's
  own and that of the children it reaped, from ``/proc/<pid>/stat``) and kills the sandbox above the limit; it is what
  training budgets count (grader.running.budget), since it does not grow when other jobs load the machine. Cores
  (``Limits.cpus``): the command starts pinned to them (``sched_setaffinity``; code can widen its own mask within the
  host's, so this spreads concurrent trainings, it is no confinement).
* Time, output and reply: enforced by the parent, which kills bwrap's process group; bwrap's pid 1 then dies
  (``--die-with-parent``) and the kernel kills every process left in the pid namespace, daemons included.

The reply channel is file descriptor 3 in the sandboxed command: whatever it writes there comes back as
``RunResult.reply``.

Without bubblewrap (or with ``NNKIT_NO_BWRAP=1``) the command runs as a plain process, with the same rlimits except the
process count, a fresh temporary working directory and the same environment, after a warning. Paths cannot be remapped
there, so every argv element, environment value and ``cwd`` that starts with a bind target (``/kit/worker.py``) is
rewritten to the host path (``<host kit dir>/worker.py``); callers write argv in terms of sandbox paths only.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import platform
import resource
import selectors
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field

__all__ = ["FallbackWarning", "Limits", "RunResult", "SandboxUnavailable", "bwrap_available", "landlock_available",
           "run_sandboxed", "sandbox_mode"]

REPLY_FD = 3
ALWAYS_HIDDEN = ("/usr/share/datasets",)
SANDBOX_GID = 65534
_SANDBOX_UID_BASE = 1 << 30
_USR_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
_WATCHDOG_PERIOD = 0.25
_MAX_TMP_ENTRIES = 10_000
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
CONFINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "confine.py")
_DRAIN_GRACE = 2.0
_FALLBACK_WARNING = (
    "neither bubblewrap nor Landlock can be used: student code runs WITHOUT a sandbox (no filesystem or network "
    "isolation, no process-count limit); install the Debian package bubblewrap, or pass --require-sandbox to refuse"
)


class SandboxUnavailable(RuntimeError):
    """Raised when a sandbox is required but neither bubblewrap nor Landlock can be used."""


class FallbackWarning(UserWarning):
    """Student code is about to run without any sandbox."""


@dataclass(frozen=True)
class Limits:
    timeout: float = 60.0  # wall clock seconds; then the whole process tree is killed
    memory_mb: int = 4096  # RLIMIT_DATA per process, and total PSS of the process tree (watchdog)
    max_processes: int = 64  # RLIMIT_NPROC inside the sandbox; threads count
    max_file_mb: int = 64  # RLIMIT_FSIZE
    max_output_bytes: int = 1 << 20  # kept of stdout and of stderr each; more than 64x this in total is a flood
    max_reply_bytes: int = 256 << 20  # more on fd 3 is a protocol violation
    max_open_files: int = 256  # RLIMIT_NOFILE
    tmp_mb: int = 256  # size of the private /tmp and /dev/shm tmpfs each
    cpu_seconds: float | None = None  # CPU time (user + system) of the whole process tree; then it is killed
    cpus: tuple[int, ...] = ()  # the cores the command may run on (sched_setaffinity), () for all


@dataclass
class RunResult:
    reply: bytes | None  # everything written on fd 3; None after a reply violation
    returncode: int | None  # exit status, -N for signal N, None when the sandbox killed it
    reason: str  # "" after exit status 0, otherwise a sentence for the report
    stdout: str
    stderr: str
    sandboxed: bool
    wall: float
    timed_out: bool
    mode: str = "bubblewrap"  # the sandbox that ran it: "bubblewrap", "landlock" or "none"
    cpu: float = 0.0  # CPU seconds of the process tree at the last watchdog sample
    cpu_limited: bool = False  # killed at Limits.cpu_seconds


@dataclass
class _Capture:
    """Keeps the first and the last half of a stream; the traceback at the end matters most."""

    limit: int
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.limit // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        keep = self.limit - self.limit // 2
        if len(self.tail) > 2 * keep:
            del self.tail[:-keep]

    def text(self) -> str:
        keep = self.limit - self.limit // 2
        tail = bytes(self.tail[-keep:]) if keep else b""
        omitted = self.total - len(self.head) - len(tail)
        note = f"\n[... {omitted} bytes omitted: output is limited to {self.limit} bytes ...]\n" if omitted else ""
        return self.head.decode(errors="replace") + note + tail.decode(errors="replace")


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/bin"]))


def _as_root() -> bool:
    return os.geteuid() == 0


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _runtime_binds() -> list[tuple[str, str]]:
    """(host, sandbox) pairs for the system and this interpreter, identical on both sides."""
    binds = [("/usr", "/usr")]
    prefixes = [sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix]
    for prefix in dict.fromkeys(prefixes + [os.path.realpath(p) for p in prefixes]):
        if os.path.isdir(prefix) and not _is_within(prefix, "/usr"):
            binds.append((prefix, prefix))
    binds += [(path, path) for path in _ETC_FILES if os.path.exists(path)]
    return binds


def _host_path(path: str, binds: list[tuple[str, str]]) -> str | None:
    """The host path that `path` inside the sandbox shows, through the innermost bind containing it."""
    for host, target in sorted(binds, key=lambda b: len(b[1]), reverse=True):
        if _is_within(path, target):
            return host + path[len(target.rstrip("/")):] if target != "/" else host.rstrip("/") + path
    return None


def _unreadable(root: str) -> str | None:
    """The first entry under `root` that a sandbox user (an unrelated uid) cannot read, if any."""
    def bad(path: str) -> bool:
        mode = os.lstat(path).st_mode
        need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
        return not stat.S_ISLNK(mode) and mode & need != need

    if bad(root):
        return root
    if os.path.isdir(root):
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                if bad(os.path.join(dirpath, name)):
                    return os.path.join(dirpath, name)
    return None


_uid_lock = threading.Lock()
_last_uid = [63]
_uids_in_use: set[int] = set()


def _claim_uid() -> int:
    """A host uid that no other live sandbox uses, so that RLIMIT_NPROC counts this sandbox alone."""
    base = _SANDBOX_UID_BASE + (os.getpid() << 6)  # pids are below 2**22, so uids stay below 2**31
    with _uid_lock:
        # round robin from the last one handed out: a uid is reused as late as possible, so nothing a finished
        # sandbox left behind (a fork bomb's last children, on their way out) shares a uid with the next one
        order = [base + (_last_uid[0] + 1 + i) % 64 for i in range(64)]
        free = [uid for uid in order if uid not in _uids_in_use]
        if not free:
            raise RuntimeError("more than 64 sandboxes at once in one process")
        _uids_in_use.add(free[0])
        _last_uid[0] = free[0] - base
        return free[0]


def _release_uid(uid: int | None) -> None:
    with _uid_lock:
        _uids_in_use.discard(uid)


def _filesystem_args(binds: list[tuple[str, str]], hide: list[str], limits: Limits, rw_tmp: bool) -> list[str]:
    tmp_size = str(limits.tmp_mb << 20)
    args = ["--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", tmp_size, "--tmpfs", "/tmp",
            "--perms", "1777", "--size", tmp_size, "--tmpfs", "/dev/shm"]
    if not rw_tmp:
        args += ["--remount-ro", "/tmp", "--remount-ro", "/dev/shm"]
    for link in _USR_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            binds = binds + [(link, link)]
    made = {"/", "/tmp", "/dev"}
    for host, target in sorted(binds, key=lambda bind: bind[1].count("/")):
        parents = []
        parent = os.path.dirname(target)
        while parent not in made and not any(_is_within(parent, other) for _, other in binds if other != target):
            parents.append(parent)
            made.add(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(parents):
            args += ["--perms", "0755", "--dir", directory]  # bwrap would make them 0700, closed to the sandbox user
        args += ["--ro-bind", host, target]
    for path in dict.fromkeys([*ALWAYS_HIDDEN, *hide]):
        host = _host_path(path, binds)
        if host is None or not os.path.lexists(host):
            continue
        if os.path.isdir(host):
            args += ["--tmpfs", path, "--remount-ro", path]
        else:
            args += ["--dev-bind", "/dev/null", path]  # plain binds are nodev, and an empty file would need an fd
    return args


def _bwrap_command(argv: list[str], binds: list[tuple[str, str]], hide: list[str], cwd: str, limits: Limits,
                   uid: int | None, rw_tmp: bool = True) -> list[str]:
    """bwrap's command line; `uid` is the host uid that root drops the command to, None for a non-root caller."""
    cmd = [_which("bwrap"), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if uid is None:
        cmd += ["--unshare-user", "--uid", "65534", "--gid", str(SANDBOX_GID), "--disable-userns"]
    else:
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]  # for setpriv only
    cmd += _filesystem_args(binds, hide, limits, rw_tmp) + ["--chdir", cwd, "--"]
    if uid is not None:
        cmd += [_which("setpriv"), f"--reuid={uid}", f"--regid={SANDBOX_GID}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--"]
    return cmd + [_which("prlimit"), f"--nproc={limits.max_processes}:{limits.max_processes}", "--", *argv]


# Syscalls that keep memory alive without mapping it, where the watchdog (which sums mapped pages) cannot see it:
# memfd_create (files of up to max_file_mb, as many as there are descriptors, also parked in unix sockets) and SysV
# shmget (detached segments, of any size). Numbers by machine: (AUDIT_ARCH, memfd_create, shmget, memfd_secret).
_DENIED_SYSCALLS = {"x86_64": (0xC000003E, 319, 29, 447), "aarch64": (0xC00000B7, 279, 194, 447)}
# Landlock mode only, where no namespace stands between the command and the host: ptrace, process_vm_readv/writev,
# unshare, setns, mount, umount2, pivot_root, keyctl, add_key, request_key, bpf, io_uring_setup/enter/register (whose
# requests bypass seccomp), open_tree, move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr,
# name_to_handle_at, open_by_handle_at, userfaultfd, perf_event_open and connect; then (socket, clone, clone3).
_CONFINED_SYSCALLS = {
    "x86_64": ((101, 310, 311, 272, 308, 165, 166, 155, 250, 248, 249, 321, 425, 426, 427, 428, 429, 430, 431, 432,
                433, 442, 303, 304, 323, 298, 42), (41, 56, 435)),
    "aarch64": ((117, 270, 271, 97, 268, 40, 39, 41, 219, 217, 218, 280, 425, 426, 427, 428, 429, 430, 431, 432, 433,
                 442, 264, 265, 282, 241, 203), (198, 220, 435)),
}
_AF_UNIX = 1
_CLONE_NAMESPACES = 0x7E020080  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME


@functools.cache
def _seccomp_filter(confined: bool = False) -> bytes | None:
    """A classic BPF program: the syscalls above fail with EPERM, and so does every syscall of another ABI (x32, or
    32-bit on a 64-bit kernel, where the numbers differ). `confined` (the Landlock mode) adds the second list,
    socket() of any family but AF_UNIX, and clone() with a namespace flag; clone3 fails with ENOSYS, so that the C
    library falls back to clone, whose flags a filter can read. None on other machines."""
    entry = _DENIED_SYSCALLS.get(platform.machine())
    if entry is None:
        return None
    arch, *numbers = entry
    socket_nr = clone_nr = clone3_nr = None
    if confined:
        more, (socket_nr, clone_nr, clone3_nr) = _CONFINED_SYSCALLS[platform.machine()]
        numbers += more
    # (code, k, label if true, label if false); a label is where a jump lands, None the next instruction
    ld_w, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    program: list[tuple] = [(ld_w, 4), (jeq, arch, None, "deny"), (ld_w, 0), (jge, 0x40000000, "deny", None)]
    program += [(jeq, nr, "deny", None) for nr in numbers]
    if confined:
        program += [(jeq, clone3_nr, "enosys", None), (jeq, socket_nr, "socket", None), (jeq, clone_nr, "clone", None),
                    (ret, 0x7FFF0000), "socket", (ld_w, 16), (jeq, _AF_UNIX, "allow", "deny"),
                    "clone", (ld_w, 16), (jset, _CLONE_NAMESPACES, "deny", "allow")]  # 16: the first argument
    program += ["allow", (ret, 0x7FFF0000), "deny", (ret, 0x00050000 | errno.EPERM),
                "enosys", (ret, 0x00050000 | errno.ENOSYS)]  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO
    labels, index = {}, 0
    for item in program:
        if isinstance(item, str):
            labels[item] = index
        else:
            index += 1
    out, index = [], 0
    for item in program:
        if isinstance(item, str):
            continue
        code, k, *targets = item
        jt, jf = (0 if t is None else labels[t] - index - 1 for t in (targets + [None, None])[:2])
        out.append(struct.pack("=HBBI", code, jt, jf, k))
        index += 1
    return b"".join(out)


def _rlimits(limits: Limits) -> list[tuple[int, int]]:
    return [(resource.RLIMIT_DATA, limits.memory_mb << 20),
            (resource.RLIMIT_FSIZE, limits.max_file_mb << 20),
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_NOFILE, limits.max_open_files)]


def _child_setup(reply_w: int, rlimits: list[tuple[int, int]], cpus: tuple[int, ...] = ()) -> None:
    """Runs in the forked child before exec: the reply pipe becomes fd 3, then the limits and the cores apply."""
    if reply_w == REPLY_FD:
        os.set_inheritable(REPLY_FD, True)
    else:
        os.dup2(reply_w, REPLY_FD)
    for which, value in rlimits:
        resource.setrlimit(which, (value, value))
    if cpus:
        os.sched_setaffinity(0, cpus)


@functools.cache
def _bwrap_trial() -> str | None:
    """None if a minimal sandbox runs here, else why not."""
    tools = ["bwrap", "prlimit"] + (["setpriv"] if _as_root() else [])
    missing = [tool for tool in tools if _which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found"
    uid = _claim_uid() if _as_root() else None
    try:
        cmd = _bwrap_command([_which("true")], _runtime_binds(), [], "/", Limits(), uid)
        trial = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"trial run failed: {exc}"
    finally:
        _release_uid(uid)
    return None if trial.returncode == 0 else f"trial run failed: {trial.stderr.strip()}"


def bwrap_available() -> bool:
    """True if bubblewrap is installed and a trial sandbox works (cached), unless NNKIT_NO_BWRAP=1."""
    return os.environ.get("NNKIT_NO_BWRAP") != "1" and _bwrap_trial() is None


def _landlock_config(read: list[str], write: list[str], hide: list[str], uid: int | None,
                     nproc: int | None) -> dict:
    return {"read": read, "write": write, "devices": list(_DEVICES), "hide": hide, "uid": uid, "gid": SANDBOX_GID,
            "nproc": nproc, "seccomp": (_seccomp_filter(True) or b"").hex()}


def _launcher(config: dict) -> list[str]:
    """The command prefix that confines what follows it (see grader.running.confine)."""
    return [sys.executable, "-I", "-S", "-B", CONFINE, json.dumps(config), "--"]


@functools.cache
def _landlock_trial() -> str | None:
    """None if the Landlock sandbox runs here, else why not."""
    if platform.machine() not in _CONFINED_SYSCALLS:
        return f"no seccomp filter for {platform.machine()}"
    uid = _claim_uid() if _as_root() else None
    try:
        config = _landlock_config([path for path, _ in _runtime_binds()], [], [], uid, 8 if uid else None)
        probe = "import sys\ntry: open(sys.argv[1])\nexcept PermissionError: pass\nelse: sys.exit('not confined')"
        trial = subprocess.run(_launcher(config) + [sys.executable, "-I", "-S", "-c", probe, CONFINE],
                               capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"trial run failed: {exc}"
    finally:
        _release_uid(uid)
    return None if trial.returncode == 0 else f"trial run failed: {trial.stderr.strip()[-500:]}"


def landlock_available() -> bool:
    """True if the Landlock sandbox works here (cached), unless NNKIT_NO_LANDLOCK=1."""
    return os.environ.get("NNKIT_NO_LANDLOCK") != "1" and _landlock_trial() is None


def sandbox_mode() -> str:
    """The sandbox run_sandboxed uses here: "bubblewrap", else "landlock", else "none"."""
    if bwrap_available():
        return "bubblewrap"
    return "landlock" if landlock_available() else "none"


def unavailable_reason() -> str:
    """Why neither sandbox can be used here ("" when one can)."""
    if sandbox_mode() != "none":
        return ""
    bwrap = "NNKIT_NO_BWRAP=1" if os.environ.get("NNKIT_NO_BWRAP") == "1" else _bwrap_trial()
    landlock = "NNKIT_NO_LANDLOCK=1" if os.environ.get("NNKIT_NO_LANDLOCK") == "1" else _landlock_trial()
    return f"bubblewrap: {bwrap}; Landlock: {landlock}"


_fallback_warned = False


def _warn_fallback() -> None:
    global _fallback_warned
    if not _fallback_warned:
        _fallback_warned = True
        warnings.warn(_FALLBACK_WARNING, FallbackWarning, stacklevel=3)


def _uid_processes(uid: int) -> list[int]:
    """Pids whose real uid is `uid`."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/status", "rb") as f:
                    for line in f:
                        if line.startswith(b"Uid:"):
                            if int(line.split()[1]) == uid:
                                found.append(int(name))
                            break
            except (OSError, ValueError, IndexError):
                continue
    return found


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of `uid`, from a child that becomes `uid` (kill(-1) then reaches exactly those;
    Linux lets no fork complete past a pending SIGKILL, so one pass catches a fork bomb too)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(SANDBOX_GID, SANDBOX_GID, SANDBOX_GID)
            os.setresuid(uid, uid, uid)
            for _ in range(3):
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _tree_usage(root: str, max_entries: int) -> tuple[int, int]:
    """(bytes, entries) under `root`, counting at most `max_entries` + 1 entries."""
    size = count = 0
    todo = [root]
    while todo and count <= max_entries:
        try:
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    count += 1
                    st = entry.stat(follow_symlinks=False)
                    size += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
        except OSError:
            continue
    return size, count


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) << 10
    except (OSError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) of ``pids`` with the children each has reaped: a process tree's total while it runs."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            ticks += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            continue
    return ticks / _CLOCK_TICKS


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _exit_reason(returncode: int, stderr: str, limits: Limits) -> str:
    if returncode == 0:
        return ""
    if returncode < 0:
        number = -returncode
        reason = f"killed by signal {number} ({_signal_name(number)})"
        if number == signal.SIGKILL:
            reason += ", probably the memory limit"
        elif number == signal.SIGXFSZ:
            reason += f": a file grew beyond the {limits.max_file_mb} MB limit"
        return reason
    reason = f"exited with status {returncode}"
    if "MemoryError" in stderr[-4000:]:
        reason += f" (MemoryError: the memory limit is {limits.memory_mb} MB per process)"
    return reason


def _rewrite(value: str, binds: list[tuple[str, str]]) -> str:
    host = _host_path(value, binds) if value.startswith("/") else None
    return host if host is not None else value


def run_sandboxed(argv: list[str], *, ro_binds: dict[str, str], rw_tmp: bool = True, env: dict[str, str] | None = None,
                  cwd: str = "/", limits: Limits = Limits(), require_sandbox: bool = False,
                  hide: list[str] = ()) -> RunResult:
    """Run `argv` in the sandbox and collect its stdout, stderr and everything it writes on fd 3.

    `ro_binds` maps host paths to sandbox paths, bound read-only; as root under bubblewrap they must be
    world-readable (the command runs as an unrelated uid). `hide` lists sandbox paths covered by an empty read-only
    tmpfs (under Landlock: left unreadable). `env` is added to a minimal environment; nothing of the caller's
    environment leaks. /tmp and /dev/shm are private tmpfs of `limits.tmp_mb` each (under Landlock: a private
    temporary directory, TMPDIR, watched to stay within that size), read-only when `rw_tmp` is false.
    """
    if not argv:
        raise ValueError("argv is empty")
    for host in ro_binds:
        if not os.path.lexists(host):
            raise FileNotFoundError(f"bind source {host} does not exist")
    mode = sandbox_mode()
    if mode == "none":
        if require_sandbox:
            raise SandboxUnavailable(f"a sandbox is required but neither bubblewrap nor Landlock can be used "
                                     f"({unavailable_reason()}); install the Debian package bubblewrap, check that "
                                     "user namespaces are enabled, or run as root")
        _warn_fallback()

    user_binds = [(os.path.abspath(host), target) for host, target in ro_binds.items()]
    child_env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
                 "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"} | dict(env or {})
    uid = scratch = view = None
    if mode == "bubblewrap":
        if _as_root():
            for host, _ in user_binds:
                if (bad := _unreadable(host)) is not None:
                    raise PermissionError(f"{bad} is not world-readable, and the sandboxed command runs as an "
                                          f"unprivileged uid; make the bound files readable (chmod -R o+rX {host})")
            uid = _claim_uid()
        command = _bwrap_command(argv, _runtime_binds() + user_binds, list(hide), cwd, limits, uid, rw_tmp)
        workdir = None
    else:
        scratch = tempfile.TemporaryDirectory(prefix="nnkit-run-")
        if mode == "landlock":
            view = tempfile.TemporaryDirectory(prefix="nnkit-view-")
            user_binds = _file_binds_in(view.name, user_binds)
            if _as_root():
                uid = _claim_uid()
                os.chown(scratch.name, uid, SANDBOX_GID)
        child_env.update(HOME=scratch.name, TMPDIR=scratch.name)
        child_env = {key: _rewrite(value, user_binds) for key, value in child_env.items()}
        command = [_rewrite(arg, user_binds) for arg in argv]
        workdir = _host_path(cwd, user_binds) or scratch.name
        if mode == "landlock":
            runtime = _runtime_binds()
            read = [host for host, _ in runtime] + [link for link in _USR_LINKS if os.path.isdir(link)]
            read += [host for host, _ in user_binds if not _is_within(host, view.name)] + [view.name]
            hidden = [h for path in dict.fromkeys([*ALWAYS_HIDDEN, *hide])
                      if (h := _host_path(path, user_binds + runtime)) is not None]
            writable = [scratch.name] if rw_tmp else []
            read += [] if rw_tmp else [scratch.name]
            command = _launcher(_landlock_config(read, writable, hidden, uid, limits.max_processes if uid else None)) \
                + command

    reply_r, reply_w = os.pipe()  # made before Popen's own pipes, none of which can then land on fd 3
    start = time.monotonic()
    try:
        filter_fds = []
        try:
            if mode == "bubblewrap" and (program := _seccomp_filter()) is not None:
                filter_r, filter_w = os.pipe()  # bwrap reads the program from it
                filter_fds.append(filter_r)
                os.write(filter_w, program)  # 80 bytes: fits in the pipe
                os.close(filter_w)
                command = [command[0], "--seccomp", str(filter_r), *command[1:]]
            proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env,
                cwd=workdir, pass_fds=(REPLY_FD, *filter_fds), start_new_session=True,
                preexec_fn=functools.partial(_child_setup, reply_w, _rlimits(limits), tuple(limits.cpus)))
        finally:
            os.close(reply_w)
            for fd in filter_fds:
                os.close(fd)
        return _supervise(proc, reply_r, limits, start, mode, uid if mode == "landlock" else None,
                          scratch.name if mode == "landlock" else None)
    finally:
        os.close(reply_r)
        if mode == "landlock" and uid is not None:
            _kill_uid(uid)  # before the uid can be handed to another sandbox
        _release_uid(uid)
        for folder in (scratch, view):
            if folder is not None:
                folder.cleanup()


def _file_binds_in(view: str, binds: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The binds with each file placed at its sandbox path below `view` (a hard link, else a copy), so that the
    folder the command sees holds that file alone, as under bubblewrap; directories stay where they are."""
    out = []
    for host, target in binds:
        if os.path.isdir(host):
            out.append((host, target))
            continue
        placed = os.path.join(view, target.lstrip("/"))
        os.makedirs(os.path.dirname(placed), exist_ok=True)
        try:
            os.link(host, placed)
        except OSError:
            shutil.copy2(host, placed)
        out.append((placed, target))
    return out


PROGRESS_ENV = "NNKIT_PROGRESS_FILE"


def _progress_echo(limit: int):
    """Where a worker's stdout is echoed as it arrives: the file named by ``NNKIT_PROGRESS_FILE`` (set by ``nnkit
    check``, which shows it as training progress), at most ``limit`` bytes; None when unset."""
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return None
    left = [limit]

    def echo(data: bytes) -> None:
        if left[0] > 0:
            with open(path, "ab") as f:
                f.write(data[:left[0]])
            left[0] -= len(data)
    return echo


def _supervise(proc: subprocess.Popen, reply_r: int, limits: Limits, start: float, mode: str, uid: int | None,
               scratch: str | None) -> RunResult:
    """Read the three pipes until they close, enforcing every limit; kill the process group (under Landlock as root:
    every process of the sandbox's uid) on a violation. `scratch` is the Landlock mode's temporary directory."""
    out, err = _Capture(limits.max_output_bytes), _Capture(limits.max_output_bytes)
    reply: list[bytes] = []
    reply_size = 0
    killed_for = ""
    timed_out = False
    cpu = 0.0

    def kill(reason: str) -> None:
        nonlocal killed_for
        if killed_for:
            return
        killed_for = reason
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if uid is not None:
            _kill_uid(uid)

    sel = selectors.DefaultSelector()
    for fd, sink in ((proc.stdout.fileno(), out), (proc.stderr.fileno(), err), (reply_r, None)):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, sink)
    deadline = start + limits.timeout
    next_check = start + _WATCHDOG_PERIOD
    give_up = None  # once the process is gone or killed, pipes get a grace period to reach end of file
    flood = 64 * limits.max_output_bytes
    echo = _progress_echo(limits.max_output_bytes)
    while sel.get_map():
        now = time.monotonic()
        if give_up is None and (killed_for or proc.poll() is not None):
            give_up = now + _DRAIN_GRACE
        if give_up is not None and now >= give_up:
            break
        if not killed_for and now >= deadline:
            timed_out = True
            kill(f"timed out after {limits.timeout:g} s (killed)")
            continue
        if not killed_for and now >= next_check:
            next_check = now + _WATCHDOG_PERIOD
            pids = _uid_processes(uid) if uid is not None else _descendants(proc.pid)
            cpu = max(cpu, _cpu_seconds(pids))
            if limits.cpu_seconds is not None and cpu > limits.cpu_seconds:
                kill(f"CPU limit: the sandboxed processes used more than {limits.cpu_seconds:g} s of CPU time (killed)")
                continue
            if sum(_pss_bytes(pid) for pid in pids) > limits.memory_mb << 20:
                kill(f"memory limit: the sandboxed processes used more than {limits.memory_mb} MB in total (killed)")
                continue
            if scratch is not None:
                used, entries = _tree_usage(scratch, _MAX_TMP_ENTRIES)
                if used > limits.tmp_mb << 20 or entries > _MAX_TMP_ENTRIES:
                    kill(f"temporary files: more than {limits.tmp_mb} MB or {_MAX_TMP_ENTRIES} entries in the "
                         "private temporary directory (killed)")
                    continue
        wait = min(t for t in (deadline, next_check, give_up) if t is not None) - now
        for key, _ in sel.select(timeout=max(wait, 0.001)):
            try:
                data = os.read(key.fd, 1 << 16)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(key.fd)
            elif key.data is not None:
                key.data.add(data)
                if echo is not None and key.data is out:
                    echo(data)
                if out.total + err.total > flood:
                    kill(f"output flood: more than {flood} bytes on stdout/stderr (killed)")
            elif reply is not None:
                reply_size += len(data)
                if reply_size > limits.max_reply_bytes:
                    reply = None
                    kill(f"reply larger than {limits.max_reply_bytes} bytes (killed)")
                else:
                    reply.append(data)
    sel.close()
    proc.stdout.close()
    proc.stderr.close()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # what is left of the process group, or pipes that never closed
    except (ProcessLookupError, PermissionError):
        pass
    status = proc.wait()
    if mode == "bubblewrap" and status > 128:
        status = 128 - status  # bwrap reports a command killed by signal N as status 128 + N
    stderr = err.text()
    if killed_for:
        returncode, reason = None, killed_for
    elif mode == "bubblewrap" and status == 1 and stderr.startswith("bwrap: "):
        returncode, reason = status, f"sandbox setup failed: {stderr.strip()}"
    elif mode == "landlock" and status == 126 and stderr.startswith("nnkit-confine: "):
        returncode, reason = status, f"sandbox setup failed: {stderr.strip()}"
    else:
        returncode, reason = status, _exit_reason(status, stderr, limits)
    return RunResult(reply=None if reply is None else b"".join(reply), returncode=returncode, reason=reason,
                     stdout=out.text(), stderr=stderr, sandboxed=mode != "none", wall=time.monotonic() - start,
                     timed_out=timed_out, mode=mode, cpu=cpu, cpu_limited=killed_for.startswith("CPU limit"))
