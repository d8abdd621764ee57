"""requirements.lock installs wherever students work: for every platform the student bundle supports it resolves from
wheels alone to exactly its own pins. uv resolves for a platform other than the running one (pip evaluates markers
for this interpreter even with ``--platform``). That needs the package index, so those tests run only as ``make
lock-check``; the marker checks below are offline and run always."""

from __future__ import annotations

import subprocess
import sys

import pytest
from packaging.requirements import Requirement

from grader import registry

LOCK = registry.REPO / "requirements.lock"
PYTHON = "3.11.7"
# uv's platform triple -> the environment markers of that platform
PLATFORMS = {
    "x86_64-unknown-linux-gnu": {"sys_platform": "linux", "platform_machine": "x86_64", "os_name": "posix"},
    "aarch64-unknown-linux-gnu": {"sys_platform": "linux", "platform_machine": "aarch64", "os_name": "posix"},
    "aarch64-apple-darwin": {"sys_platform": "darwin", "platform_machine": "arm64", "os_name": "posix"},
    "x86_64-apple-darwin": {"sys_platform": "darwin", "platform_machine": "x86_64", "os_name": "posix"},
    "x86_64-pc-windows-msvc": {"sys_platform": "win32", "platform_machine": "AMD64", "os_name": "nt"},
}


def requirements(text: str, platform: str | None = None) -> dict[str, list[str]]:
    """Package name -> the versions pinned for it (for ``platform``: only the lines whose marker holds there)."""
    env = {**PLATFORMS[platform], "python_full_version": PYTHON, "python_version": "3.11",
           "implementation_name": "cpython", "platform_system": ""} if platform else None
    pins: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            req = Requirement(line)
            if env is None or req.marker is None or req.marker.evaluate(env):
                pins.setdefault(req.name.lower().replace("_", "-"), []).append(str(req.specifier))
    return pins


def resolve(platform: str, lock=LOCK) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uv", "pip", "compile", str(lock), "--python-platform", platform,
                           "--python-version", PYTHON, "--only-binary", ":all:", "--no-header", "--no-annotate",
                           "--quiet"], capture_output=True, text=True, timeout=600)


@pytest.mark.lock
@pytest.mark.parametrize("platform", PLATFORMS)
def test_lock_resolves_from_wheels(platform):
    """On each platform the lock resolves from wheels alone, to exactly the pins its markers select there."""
    proc = resolve(platform)
    assert proc.returncode == 0, f"requirements.lock does not resolve from wheels for {platform}:\n{proc.stderr}"
    assert requirements(proc.stdout) == requirements(LOCK.read_text(), platform)


@pytest.mark.lock
def test_lock_check_fails_for_a_platform_without_wheels(tmp_path):
    """The check can fail: an unmarked tensorflow-cpu 2.21.0 has no wheel for macOS arm64."""
    lock = tmp_path / "requirements.lock"
    lock.write_text("tensorflow-cpu==2.21.0\n")
    proc = resolve("aarch64-apple-darwin", lock)
    assert proc.returncode != 0 and "tensorflow-cpu" in proc.stderr


@pytest.mark.parametrize("platform", PLATFORMS)
def test_lock_pins_one_tensorflow_per_platform(platform):
    """Each platform gets one pin per package: tensorflow-cpu on Linux x86_64, tensorflow elsewhere, and
    JupyterLab for the notebooks."""
    pins = requirements(LOCK.read_text(), platform)
    assert not {name: v for name, v in pins.items() if len(v) > 1}, f"{platform}: two pins for one package"
    want = "tensorflow-cpu" if platform == "x86_64-unknown-linux-gnu" else "tensorflow"
    assert [name for name in pins if name in ("tensorflow", "tensorflow-cpu")] == [want], f"{platform}: {want}"
    assert "jupyterlab" in pins and "uv" in pins
