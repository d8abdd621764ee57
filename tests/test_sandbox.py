"""The sandbox that runs student code: isolation, limits, the fd-3 reply channel and the fallback without bwrap."""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from grader.running import sandbox
from grader.running.sandbox import FallbackWarning, Limits, SandboxUnavailable, bwrap_available, run_sandboxed

FIXTURES = Path(__file__).parent / "sandbox_fixtures"
needs_bwrap = pytest.mark.skipif(
    os.environ.get("NNKIT_NO_BWRAP") == "1" or not bwrap_available(),
    reason="bubblewrap (bwrap) is not installed or cannot create namespaces here (or NNKIT_NO_BWRAP=1)")


def run_py(code: str, *extra: str, **kwargs) -> sandbox.RunResult:
    kwargs.setdefault("ro_binds", {})
    return run_sandboxed([sys.executable, "-I", "-B", "-c", code, *extra], **kwargs)


def reply_json(result: sandbox.RunResult) -> dict:
    __tracebackhide__ = True
    assert result.reply, f"no reply ({result.reason!r}); stderr:\n{result.stderr}"
    return json.loads(result.reply)


def processes_with(token: str, wait: float = 2.0) -> list[int]:
    """Host pids whose command line contains `token`, after giving a dying pid namespace `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != os.getpid():
                try:
                    if token.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                        found.append(int(name))
                except OSError:
                    pass
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def job_dir(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    (job / "input.txt").write_text("payload")
    for path in (tmp_path, job):
        path.chmod(0o755)
    return job


@needs_bwrap
@pytest.mark.parametrize("size", [5, 100_000, 8 << 20])
def test_reply_round_trip(size):
    """Bytes written on fd 3 come back unchanged, small or several megabytes."""
    code = ("import sys\nn = int(sys.argv[1])\nwith open(3, 'wb') as f: "
            "f.write(bytes(range(256)) * (n // 256) + b'e' * (n % 256))")
    result = run_py(code, str(size))
    expected = bytes(range(256)) * (size // 256) + b"e" * (size % 256)
    assert result.returncode == 0 and result.reason == "", result.stderr
    assert result.sandboxed
    assert result.reply == expected, f"reply of {len(result.reply or b'')} bytes, expected {size}"


@needs_bwrap
def test_output_captured_and_truncated_with_head_and_tail():
    """Stdout and stderr keep their beginning and their end, with a note about what was cut."""
    code = "import sys\nprint('START' + 'a' * 5000 + 'END')\nsys.stderr.write('oops' + 'b' * 5000 + 'Traceback tail')"
    result = run_py(code, limits=Limits(max_output_bytes=1000))
    assert result.stdout.startswith("STARTaaa") and result.stdout.rstrip().endswith("aaaEND"), result.stdout
    assert "bytes omitted: output is limited to 1000 bytes" in result.stdout
    assert result.stderr.startswith("oops") and result.stderr.endswith("Traceback tail"), result.stderr
    assert len(result.stdout) < 1200 and len(result.stderr) < 1200
    assert run_py("print('short')").stdout == "short\n"


@needs_bwrap
def test_environment_is_cleared(monkeypatch):
    """Nothing of the grader's environment reaches the sandbox; the caller's `env` does."""
    monkeypatch.setenv("NNKIT_SECRET_TOKEN", "must-not-leak")
    result = run_py("import os, json\nos.write(3, json.dumps(dict(os.environ)).encode())", env={"OMP_NUM_THREADS": "1"})
    seen = reply_json(result)
    assert "NNKIT_SECRET_TOKEN" not in seen and "must-not-leak" not in json.dumps(seen)
    assert seen["OMP_NUM_THREADS"] == "1" and seen["HOME"] == "/tmp" and seen["PYTHONHASHSEED"] == "0"
    assert set(seen) <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PWD",
                         "OMP_NUM_THREADS"}, seen


@needs_bwrap
def test_no_network():
    """Neither a server on the host's loopback nor an outside address can be reached."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    code = """
import json, socket, sys
out = {}
targets = {"loopback": ("127.0.0.1", int(sys.argv[1])), "outside": ("1.1.1.1", 53), "outside2": ("8.8.8.8", 443)}
for name, address in targets.items():
    try:
        socket.create_connection(address, timeout=2).close()
        out[name] = "connected"
    except OSError as exc:
        out[name] = type(exc).__name__ + ": " + str(exc)
try:
    socket.getaddrinfo("example.com", 80)
    out["dns"] = "resolved"
except OSError as exc:
    out["dns"] = str(exc)
print(json.dumps(out)); open(3, "w").write(json.dumps(out))
"""
    try:
        seen = reply_json(run_py(code, str(port), limits=Limits(timeout=20)))
    finally:
        server.close()
    assert all(value != "connected" for value in seen.values()), seen
    assert seen["dns"] != "resolved", seen


@needs_bwrap
def test_private_paths_are_invisible(job_dir):
    """The solutions, the grader's home, the datasets and hidden paths cannot be seen from the sandbox."""
    pureml_datasets = str(Path(importlib.util.find_spec("pureml").origin).parent / "datasets")
    assert os.listdir(pureml_datasets), "precondition: the pureml datasets directory is not empty"
    (job_dir / "secret.txt").write_text("hidden")
    (job_dir / "secret.txt").chmod(0o644)
    secret_paths = ["/work/main/solutions", "/work/main/grader", "/work/main/tests", "/root/.keras", "/root/.cache",
                    "/root/.ssh", "/usr/share/datasets/fashion-mnist", "/work/shared", f"{pureml_datasets}/MNIST"]
    probe = [sys.executable, "-I", "-B", "/kit/probe.py", "/job/input.txt", *secret_paths, pureml_datasets]
    binds = {str(FIXTURES): "/kit", str(job_dir): "/job"}

    shown = reply_json(run_sandboxed(probe, ro_binds=binds))
    assert shown["listing"][pureml_datasets], "without `hide` the datasets must be visible, or this proves nothing"
    assert shown["input"] == "payload"

    hidden = reply_json(run_sandboxed(probe + ["/job/secret.txt"], ro_binds=binds,
                                      hide=[pureml_datasets, "/job/secret.txt"]))
    visible = [path for path in secret_paths if hidden["exists"][path]]
    assert not visible, f"visible inside the sandbox: {visible}"
    assert hidden["listing"][pureml_datasets] == []
    result = run_py("print(open('/job/secret.txt').read() or 'empty')", ro_binds=binds, hide=["/job/secret.txt"])
    assert result.stdout == "empty\n", result.stderr


@needs_bwrap
def test_tmp_is_private_and_binds_are_read_only(job_dir):
    """/tmp is writable but is not the host's /tmp; bound directories cannot be written."""
    marker = f"nnkit-marker-{uuid.uuid4().hex}"
    code = f"""
open('/tmp/{marker}', 'w').write('x')
try:
    open('/job/new.txt', 'w').write('x')
    print('wrote into /job')
except OSError as exc:
    print('refused', exc.errno)
"""
    result = run_py(code, ro_binds={str(job_dir): "/job"})
    assert result.returncode == 0, result.stderr
    assert not Path("/tmp", marker).exists(), "the sandbox's /tmp is the host's /tmp"
    assert result.stdout.startswith("refused 30"), result.stdout  # EROFS
    assert not (job_dir / "new.txt").exists()
    read_only = run_py("open('/tmp/x', 'w')", rw_tmp=False)
    assert "Read-only file system" in read_only.stderr, read_only.stderr


@needs_bwrap
def test_runs_unprivileged():
    """The command runs as a non-root uid without any capability."""
    code = ("import os\nstatus = open('/proc/self/status').read().splitlines()\n"
            "print(os.getuid(), os.geteuid(), [l for l in status if l.startswith(('CapEff', 'CapPrm', 'NoNewPrivs'))])")
    result = run_py(code)
    uid, euid, _ = result.stdout.split(" ", 2)
    assert uid != "0" and euid != "0", result.stdout
    assert "CapEff:\\t0000000000000000" in result.stdout and "CapPrm:\\t0000000000000000" in result.stdout
    assert "NoNewPrivs:\\t1" in result.stdout


@needs_bwrap
@pytest.mark.parametrize("code", ["while True: pass", "import time; time.sleep(1000)"])
def test_timeout_kills(code):
    """A command that never finishes is killed at the timeout."""
    result = run_py(code, limits=Limits(timeout=2))
    assert result.timed_out and result.returncode is None
    assert result.reason == "timed out after 2 s (killed)"
    assert 1.9 < result.wall < 4, f"returned after {result.wall:.1f} s"


DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)", sys.argv[1]])
    os._exit(0)
time.sleep(0.5)
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
alive = any(sys.argv[1].encode() in open(f"/proc/{p}/cmdline", "rb").read() for p in others)
os.write(3, b"seen" if alive else b"not started")
if sys.argv[2] == "hang":
    time.sleep(1000)
"""


@needs_bwrap
@pytest.mark.parametrize("ending", ["exit", "hang"])
def test_detached_daemon_does_not_survive(ending):
    """A double-forked, setsid daemon dies with the sandbox, whether the command exits or times out."""
    token = f"nnkit-daemon-{uuid.uuid4().hex}"
    result = run_py(DAEMON, token, ending, limits=Limits(timeout=3))
    assert result.reply == b"seen", f"the daemon did not start: {result.stderr}"
    assert result.timed_out == (ending == "hang")
    assert processes_with(token) == [], "the daemon survived the sandbox"


FORK_COUNT = """
import os, time
count, error = 0, ""
for _ in range(int(__import__("sys").argv[1])):
    try:
        pid = os.fork()
    except OSError as exc:
        error = exc.strerror
        break
    if pid == 0:
        time.sleep(1000)
        os._exit(0)
    count += 1
os.write(3, f"{count} {error}".encode())
"""


@needs_bwrap
def test_process_limit_stops_forks():
    """fork() fails once the sandbox holds max_processes processes (threads included)."""
    result = run_py(FORK_COUNT, "500", limits=Limits(max_processes=32, timeout=20))
    count, error = result.reply.decode().split(" ", 1)
    assert 20 < int(count) < 32, f"{count} forks succeeded under a limit of 32"
    assert error == "Resource temporarily unavailable"


@needs_bwrap
def test_process_limit_is_per_sandbox():
    """Two sandboxes running at once each get the whole process budget."""
    results = [None, None]

    def run(i):
        results[i] = run_py(FORK_COUNT, "40", limits=Limits(max_processes=64, timeout=20))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.reply for r in results] == [b"40 ", b"40 "], [(r.reply, r.stderr) for r in results]


@needs_bwrap
def test_fork_bomb_is_contained():
    """An exponential fork bomb is capped by the process limit and killed at the timeout, leaving nothing behind."""
    token = f"nnkit-forkbomb-{uuid.uuid4().hex}"
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = run_py(code, token, limits=Limits(timeout=3))
    assert result.timed_out and result.wall < 6, (result.reason, result.wall)
    assert processes_with(token) == [], "fork bomb processes survived"


@needs_bwrap
@pytest.mark.parametrize("code", ["x = bytearray(10 << 30)", "import numpy\nx = numpy.ones(10 << 27)"])
def test_memory_bomb_fails_with_memory_error(code):
    """Allocating 10 GB at once fails under the 4 GB default and is reported as the memory limit."""
    result = run_py(code)
    assert result.returncode == 1 and "MemoryError" in result.stderr, result.stderr
    assert result.reason == "exited with status 1 (MemoryError: the memory limit is 4096 MB per process)"


@needs_bwrap
def test_growing_memory_is_stopped():
    """Memory filled piece by piece stops at the limit."""
    result = run_py("x = []\nwhile True: x.append(b'x' * (50 << 20))", limits=Limits(memory_mb=1024, timeout=20))
    assert "MemoryError" in result.reason, (result.reason, result.stderr)
    assert result.wall < 10


@needs_bwrap
def test_memory_of_all_processes_is_limited():
    """Several processes each below the per-process limit are killed when together they exceed it."""
    code = """
import os, time
for _ in range(4):
    if os.fork() == 0:
        x = b'x' * (400 << 20)
        time.sleep(1000)
time.sleep(1000)
"""
    result = run_py(code, limits=Limits(memory_mb=1024, timeout=20))
    assert result.reason == "memory limit: the sandboxed processes used more than 1024 MB in total (killed)"
    assert result.returncode is None and not result.timed_out and result.wall < 10


@needs_bwrap
def test_output_flood_is_killed():
    """Writing gigabytes to stdout is stopped early."""
    code = "import sys\nchunk = b'x' * (1 << 20)\nfor _ in range(2048): sys.stdout.buffer.write(chunk)"
    result = run_py(code)
    assert result.reason == f"output flood: more than {64 << 20} bytes on stdout/stderr (killed)"
    assert result.returncode is None and result.wall < 10
    assert len(result.stdout) < (1 << 20) + 200


@needs_bwrap
def test_reply_flood_is_a_violation():
    """A reply larger than max_reply_bytes is discarded and the command killed."""
    code = "import os\nchunk = b'r' * (1 << 20)\nwhile True: os.write(3, chunk)"
    result = run_py(code, limits=Limits(max_reply_bytes=1 << 20))
    assert result.reply is None and result.returncode is None
    assert result.reason == f"reply larger than {1 << 20} bytes (killed)"


@needs_bwrap
def test_file_size_limit():
    """A file cannot grow beyond max_file_mb: Python sees EFBIG, other programs die of SIGXFSZ."""
    code = ("import errno\ntry:\n    open('/tmp/big', 'wb').write(b'x' * (70 << 20))\n"
            "except OSError as exc:\n    print(errno.errorcode[exc.errno])")
    assert run_py(code).stdout == "EFBIG\n"
    result = run_sandboxed(["/bin/sh", "-c", "exec head -c 100000000 /dev/zero > /tmp/big"], ro_binds={},
                           limits=Limits(max_file_mb=8))
    assert result.returncode == -25
    assert result.reason == "killed by signal 25 (SIGXFSZ): a file grew beyond the 8 MB limit"


@needs_bwrap
@pytest.mark.parametrize("code, returncode, reason", [
    ("pass", 0, ""),
    ("raise SystemExit(3)", 3, "exited with status 3"),
    ("import os; os.kill(os.getpid(), 9)", -9, "killed by signal 9 (SIGKILL), probably the memory limit"),
    ("import ctypes; ctypes.string_at(0)", -11, "killed by signal 11 (SIGSEGV)"),
])
def test_exit_status_is_reported(code, returncode, reason):
    """Exit statuses and fatal signals come back as the return code and a sentence."""
    result = run_py(code)
    assert (result.returncode, result.reason) == (returncode, reason), result.stderr
    assert not result.timed_out


@needs_bwrap
def test_sandbox_setup_failure_is_reported():
    """When bwrap itself cannot set up the sandbox, the reason says so and quotes bwrap."""
    result = run_py("pass", cwd="/no/such/dir")
    assert result.reason.startswith("sandbox setup failed: bwrap: Can't chdir to /no/such/dir"), result.reason


@needs_bwrap
def test_numpy_and_tensorflow_work_under_default_limits():
    """The runtime the worker needs, NumPy and TensorFlow, imports and computes inside the sandbox."""
    code = """
import numpy as np
import tensorflow as tf
model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3)])
out = model(np.ones((2, 4), dtype="float32"))
open(3, "w").write(f"{tf.__version__} {out.shape}")
"""
    result = run_py(code, env={"TF_CPP_MIN_LOG_LEVEL": "2"}, limits=Limits(timeout=120))
    assert result.returncode == 0, result.stderr
    assert result.reply.decode().endswith("(2, 3)"), result.reply


@needs_bwrap
def test_unreadable_bind_is_refused(tmp_path):
    """As root, a bind the sandbox user could not read is refused with a hint rather than failing inside."""
    if os.geteuid() != 0:
        pytest.skip("only root runs the command as an unrelated uid")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(PermissionError, match="chmod -R o\\+rX"):
        run_py("pass", ro_binds={str(private): "/job"})


NON_ROOT_DRIVER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("nnkit_sandbox", sys.argv[1])
sandbox = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = sandbox
spec.loader.exec_module(sandbox)
result = sandbox.run_sandboxed([sys.executable, "-I", "-c", sys.argv[2], "500"], ro_binds={},
                               limits=sandbox.Limits(max_processes=32, timeout=20))
print(json.dumps({"available": sandbox.bwrap_available(), "sandboxed": result.sandboxed,
                  "reply": (result.reply or b"").decode(), "stderr": result.stderr}))
"""


@needs_bwrap
def test_non_root_caller_gets_a_user_namespace_and_the_process_limit():
    """Run by an ordinary user, the sandbox uses bwrap's user namespace and still enforces the process limit."""
    python = shutil.which("python3", path="/usr/bin")
    if os.geteuid() != 0 or python is None:
        pytest.skip("needs root (to become another user) and a system /usr/bin/python3")
    completed = subprocess.run([python, "-I", "-c", NON_ROOT_DRIVER, sandbox.__file__, FORK_COUNT],
                               user=65534, group=65534, extra_groups=[], cwd="/", capture_output=True, text=True,
                               timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    if not seen["available"]:
        pytest.skip("unprivileged user namespaces are disabled here")
    count, error = seen["reply"].split(" ", 1)
    assert seen["sandboxed"] and 20 < int(count) < 32 and error == "Resource temporarily unavailable", seen


def test_fallback_runs_without_bwrap_and_warns(monkeypatch, job_dir):
    """With neither bubblewrap nor Landlock the command runs unsandboxed, after a warning, with sandbox paths mapped
    to host paths."""
    monkeypatch.setenv("NNKIT_NO_BWRAP", "1")
    monkeypatch.setenv("NNKIT_NO_LANDLOCK", "1")
    monkeypatch.setenv("NNKIT_SECRET_TOKEN", "must-not-leak")
    monkeypatch.setattr(sandbox, "_fallback_warned", False)
    assert not bwrap_available() and sandbox.sandbox_mode() == "none"
    with pytest.warns(FallbackWarning, match=r"neither bubblewrap nor Landlock can be used: student code runs WITHOUT"):
        result = run_sandboxed([sys.executable, "-I", "-B", "/kit/probe.py", "/job/input.txt"],
                               ro_binds={str(FIXTURES): "/kit", str(job_dir): "/job"}, env={"DATA": "/job/input.txt"})
    seen = reply_json(result)
    assert not result.sandboxed and result.mode == "none" and result.returncode == 0
    assert seen["input"] == "payload"
    assert seen["env"]["DATA"] == str(job_dir / "input.txt")
    assert "NNKIT_SECRET_TOKEN" not in seen["env"]
    assert seen["cwd"] != os.getcwd() and Path(seen["cwd"]).name.startswith("nnkit-run-")
    assert not Path(seen["cwd"]).exists(), "the temporary working directory was not removed"

    timed = run_py("import time; time.sleep(1000)", limits=Limits(timeout=1))
    assert timed.timed_out and timed.wall < 3


def test_require_sandbox_refuses_to_fall_back(monkeypatch):
    """require_sandbox=True raises instead of running unsandboxed; Landlock counts as a sandbox."""
    monkeypatch.setenv("NNKIT_NO_BWRAP", "1")
    monkeypatch.setenv("NNKIT_NO_LANDLOCK", "1")
    with pytest.raises(SandboxUnavailable, match="neither bubblewrap nor Landlock"):
        run_py("pass", require_sandbox=True)



# The sandbox without namespaces (Landlock, seccomp and, as root, a fresh uid): what bubblewrap is simulated away for.

@pytest.fixture
def landlock(monkeypatch):
    monkeypatch.setenv("NNKIT_NO_BWRAP", "1")
    if not sandbox.landlock_available():
        pytest.skip(f"this kernel cannot run the Landlock sandbox: {sandbox._landlock_trial()}")
    assert sandbox.sandbox_mode() == "landlock"


def outcome(paths_code: str) -> str:
    """Python source of a function ``attempt(f)`` that returns "ok" or the OSError's errno name."""
    return ("import errno, json, os, sys\n"
            "def attempt(f):\n"
            "    try:\n        f()\n        return 'ok'\n"
            "    except OSError as exc:\n        return errno.errorcode.get(exc.errno, str(exc.errno))\n" + paths_code)


def test_landlock_reads_only_the_runtime_and_its_binds(landlock, job_dir, tmp_path):
    """The job and the runtime are readable; the kit's private files, hidden paths and anything else are not."""
    root = Path(__file__).resolve().parents[1]
    (job_dir / "secret.txt").write_text("hidden")
    other = tmp_path / "other-student"
    other.mkdir()
    (other / "q1_expressivity.py").write_text("CONTROL")
    private = [root / "grader" / "hidden" / "secret.py", root / "solutions" / "q1_expressivity.py",
               next((root / "questions").glob("*/hidden/checks.py")), other / "q1_expressivity.py", Path("/etc/passwd")]
    assert all(p.is_file() for p in private)
    code = outcome("""
out = {p: attempt(lambda p=p: open(p).read()) for p in sys.argv[2:]}
out["listing /"] = attempt(lambda: os.listdir("/"))
out["listing kit"] = attempt(lambda: os.listdir(sys.argv[2].rsplit("/", 2)[0]))
out["input"] = open(sys.argv[1]).read()
import numpy
os.write(3, json.dumps(out).encode())
""")
    result = run_py(code, "/job/input.txt", *map(str, private), "/job/secret.txt", ro_binds={str(job_dir): "/job"},
                    hide=["/job/secret.txt"])
    seen = reply_json(result)
    assert result.mode == "landlock" and result.sandboxed
    assert seen.pop("input") == "payload"
    expected = [*map(str, private), str(job_dir / "secret.txt"), "listing /", "listing kit"]
    assert seen == dict.fromkeys(expected, "EACCES")


def test_landlock_writes_only_its_private_tmpdir(landlock, job_dir):
    """The kit, the job, the host's /tmp and the caller's folders cannot be written; TMPDIR can, unless rw_tmp is
    false, and it is removed afterwards."""
    root = Path(__file__).resolve().parents[1]
    marker = f"nnkit-marker-{uuid.uuid4().hex}"
    targets = [root / "grader" / marker, root / marker, Path("/tmp") / marker, Path("/job") / marker,
               job_dir / marker]
    code = outcome("""
out = {i: attempt(lambda p=p: open(p, "w").write("x")) for i, p in enumerate(sys.argv[1:])}
out["tmpdir"] = attempt(lambda: open(os.path.join(os.environ["TMPDIR"], "x"), "w").write("x"))
out["where"] = os.environ["TMPDIR"]
os.write(3, json.dumps(out).encode())
""")
    seen = reply_json(run_py(code, *map(str, targets), ro_binds={str(job_dir): "/job"}))
    assert [seen[str(i)] for i in range(len(targets))] == ["EACCES"] * len(targets), seen
    assert seen["tmpdir"] == "ok" and not Path(seen["where"]).exists()
    assert not [t for t in targets if t.exists()]
    assert reply_json(run_py(code, rw_tmp=False))["tmpdir"] == "EACCES"


def test_landlock_has_no_network(landlock):
    """No inet socket can be made, no TCP connection or abstract unix socket of the host reached; a socketpair works."""
    server = socket.create_server(("127.0.0.1", 0))
    abstract = socket.socket(socket.AF_UNIX)
    name = f"nnkit-test-{uuid.uuid4().hex}"
    abstract.bind("\0" + name)
    abstract.listen()
    code = outcome("""
import socket
port = int(sys.argv[1])
out = {"inet": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
       "udp": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
       "inet6": attempt(lambda: socket.socket(socket.AF_INET6)),
       "netlink": attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),
       "abstract": attempt(lambda: socket.socket(socket.AF_UNIX).connect("\\0" + sys.argv[2])),
       "socketpair": attempt(lambda: socket.socketpair())}
os.write(3, json.dumps(out).encode())
""")
    try:
        seen = reply_json(run_py(code, str(server.getsockname()[1]), name))
    finally:
        server.close()
        abstract.close()
    assert seen == {"inet": "EPERM", "udp": "EPERM", "inet6": "EPERM", "netlink": "EPERM", "abstract": "EPERM",
                    "socketpair": "ok"}


def test_landlock_blocks_ptrace_namespaces_and_hidden_memory(landlock):
    """ptrace, unshare (a user namespace), clone with a namespace flag, mount, keyctl, bpf, io_uring, memfd_create
    and shmget are refused; fork and threads still work."""
    code = outcome("""
import ctypes, threading
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    def f():
        if libc.syscall(nr, *args) < 0:
            raise OSError(ctypes.get_errno(), "")
    return f
x86 = os.uname().machine == "x86_64"
out = {"ptrace attach parent": call(101 if x86 else 117, 16, os.getppid(), 0, 0),
       "unshare user": call(272 if x86 else 97, 0x10000000),
       "clone newuser": call(56 if x86 else 220, 0x10000000 | 17, 0, 0, 0, 0),
       "mount": call(165 if x86 else 40, b"none", b"/tmp", b"tmpfs", 0, 0),
       "keyctl": call(250 if x86 else 219, 0, 0),
       "bpf": call(321 if x86 else 280, 0, 0, 0),
       "io_uring_setup": call(425, 8, 0),
       "memfd_create": lambda: os.memfd_create("x"),
       "shmget": call(29 if x86 else 194, 0, 1 << 20, 0o1600)}
out = {k: attempt(f) for k, f in out.items()}
pid = os.fork()
if pid == 0:
    os._exit(7)
out["fork"] = os.waitpid(pid, 0)[1] >> 8
t = threading.Thread(target=lambda: None)
t.start()
t.join()
out["thread"] = "ok"
os.write(3, json.dumps(out).encode())
""")
    seen = reply_json(run_py(code))
    assert seen == {"ptrace attach parent": "EPERM", "unshare user": "EPERM", "clone newuser": "EPERM",
                    "mount": "EPERM", "keyctl": "EPERM", "bpf": "EPERM", "io_uring_setup": "EPERM",
                    "memfd_create": "EPERM", "shmget": "EPERM", "fork": 7, "thread": "ok"}


def test_landlock_runs_as_a_fresh_unprivileged_uid(landlock):
    """As root the command runs as an unused uid with no_new_privs, a seccomp filter and no capability but
    CAP_DAC_READ_SEARCH (reading is Landlock's to decide); it cannot signal the grader."""
    if os.geteuid() != 0:
        pytest.skip("only root changes uid")
    code = ("import os, json\nstatus = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines()"
            " if ':\\t' in l)\ntry:\n    os.kill(os.getppid(), 0)\n    sig = 'ok'\nexcept OSError as exc:\n"
            "    sig = exc.strerror\nos.write(3, json.dumps([os.getuid(), os.geteuid(), os.getgroups(), status, sig])"
            ".encode())")
    uid, euid, groups, status, sig = reply_json(run_py(code))
    assert uid == euid and uid >= 1 << 30 and uid not in (0, os.getuid()) and groups == []
    assert status["CapEff"].strip() == status["CapPrm"].strip() == f"{1 << 2:016x}"
    assert status["CapBnd"].strip() == f"{1 << 2:016x}"
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
    assert sig == "Operation not permitted"


def test_landlock_process_limit_and_nothing_survives(landlock):
    """fork() fails at max_processes under the sandbox's own uid, and a setsid daemon dies with the sandbox."""
    if os.geteuid() != 0:
        pytest.skip("RLIMIT_NPROC and the sweep need a uid of the sandbox's own, which only root can give")
    result = run_py(FORK_COUNT, "500", limits=Limits(max_processes=32, timeout=20))
    count, error = result.reply.decode().split(" ", 1)
    assert 20 < int(count) < 32 and error == "Resource temporarily unavailable", (count, error)
    token = f"nnkit-daemon-{uuid.uuid4().hex}"
    daemon = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)", sys.argv[1]])
    os._exit(0)
time.sleep(0.5)
os.write(3, b"forked")
"""
    assert run_py(daemon, token, limits=Limits(timeout=5)).reply == b"forked"
    assert processes_with(token) == [], "the daemon survived the sandbox"


def test_landlock_memory_and_tmp_limits(landlock):
    """The memory watchdog and the private TMPDIR's size limit apply."""
    result = run_py("x = bytearray(10 << 30)")
    assert "MemoryError" in result.reason, result.reason
    fill = ("import os\nfor i in range(100):\n    open(os.path.join(os.environ['TMPDIR'], str(i)), 'wb')"
            ".write(os.urandom(8 << 20))\nimport time; time.sleep(30)")
    result = run_py(fill, limits=Limits(tmp_mb=64, timeout=30))
    assert result.reason.startswith("temporary files: more than 64 MB"), result.reason
    assert result.wall < 20


def test_landlock_maps_bind_paths_to_a_view(landlock, job_dir):
    """Sandbox paths in argv and the environment become host paths; a bound file's folder holds that file alone."""
    code = ("import json, os, sys\nos.write(3, json.dumps([open(sys.argv[1]).read(), os.environ['DATA'], "
            "os.listdir(os.path.dirname(sys.argv[2]))]).encode())")
    result = run_py(code, "/job/input.txt", "/kit/probe.py", env={"DATA": "/job/input.txt"},
                    ro_binds={str(FIXTURES / "probe.py"): "/kit/probe.py", str(job_dir): "/job"})
    assert result.mode == "landlock"
    assert reply_json(result) == ["payload", str(job_dir / "input.txt"), ["probe.py"]]


def test_landlock_fails_closed(landlock, monkeypatch, tmp_path):
    """If any confinement step fails the command never runs, and the reason says so; without Landlock the mode is
    unavailable."""
    marker = tmp_path / "ran"
    config = sandbox._landlock_config
    monkeypatch.setattr(sandbox, "_landlock_config", lambda *a: config(*a) | {"seccomp": "not hex"})
    result = run_sandboxed(["/bin/sh", "-c", f"touch {marker}"], ro_binds={})
    assert result.returncode == 126 and result.reason.startswith("sandbox setup failed: nnkit-confine: ")
    assert not marker.exists()
    sandbox._landlock_trial.cache_clear()
    try:
        assert not sandbox.landlock_available() and sandbox.sandbox_mode() == "none"
    finally:
        sandbox._landlock_trial.cache_clear()


LANDLOCK_DRIVER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("nnkit_sandbox", sys.argv[1])
sandbox = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = sandbox
spec.loader.exec_module(sandbox)
code = "import os\\ntry:\\n    open(os.sys.argv[1]).read()\\n    os.write(3, b'read')\\nexcept OSError as exc:\\n" \\
       "    os.write(3, exc.strerror.encode())"
result = sandbox.run_sandboxed([sys.executable, "-I", "-c", code, sys.argv[2]], ro_binds={})
print(json.dumps({"mode": result.mode, "reply": (result.reply or b"").decode(), "stderr": result.stderr,
                  "unsandboxed": open(sys.argv[2]).read()}))
"""


def test_landlock_without_root_still_confines():
    """Run by an ordinary user without bubblewrap, the sandbox is Landlock's: a file that user owns and reads outside
    the sandbox is unreadable inside."""
    python = shutil.which("python3", path="/usr/bin")
    if os.geteuid() != 0 or python is None:
        pytest.skip("needs root (to become another user) and a system /usr/bin/python3")
    folder = Path(tempfile.mkdtemp(prefix="nnkit-test-", dir="/tmp"))
    folder.chmod(0o755)
    own = folder / "own.txt"
    own.write_text("mine")
    os.chown(own, 65534, 65534)
    try:
            completed = subprocess.run([python, "-I", "-c", LANDLOCK_DRIVER, sandbox.__file__, str(own)], user=65534,
                                   group=65534, extra_groups=[], cwd="/", capture_output=True, text=True, timeout=60,
                                   env={"PATH": "/usr/bin:/bin", "NNKIT_NO_BWRAP": "1"})
    finally:
        shutil.rmtree(folder)
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    if seen["mode"] != "landlock":
        pytest.skip(f"this kernel cannot run the Landlock sandbox (mode {seen['mode']})")
    assert seen["unsandboxed"] == "mine" and seen["reply"] == "Permission denied", seen
