"""The sandbox without namespaces: Landlock, seccomp and an unprivileged uid, set up in the child before exec.

Run as ``python -I -S -B confine.py CONFIG -- COMMAND...`` (only the standard library, no site packages). CONFIG is
JSON: ``read`` (paths readable and executable, with everything beneath), ``write`` (paths fully writable), ``devices``
(files readable and writable), ``hide`` (paths beneath ``read`` left out), ``uid``/``gid`` (the ids to become, or
null to stay), ``nproc`` (RLIMIT_NPROC, or null) and ``seccomp`` (a classic BPF program, hex). In this order it: builds
a Landlock ruleset of every filesystem right the kernel knows (and, by ABI, TCP bind/connect and the abstract-socket
and signal scopes) allowing only those paths; drops every capability but CAP_DAC_READ_SEARCH from the bounding set;
becomes ``uid``/``gid`` keeping only CAP_DAC_READ_SEARCH (so that Landlock, not the modes of the directories leading
to the runtime or the job, decides what can be read); sets ``nproc``, no_new_privs, the ruleset and the seccomp filter;
then execs COMMAND. Any failure exits with status 126 and a line ``nnkit-confine: ...`` on stderr: the command never
runs half-confined.

A path beneath a ``hide`` entry is not granted: its ancestors get directory listing only (Landlock rules add rights
and cannot take them away below a granted directory), and every sibling on the way gets the full rights.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import struct
import sys

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same on x86-64 and arm64
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1, 2, 4, 8
TRUNCATE, IOCTL_DEV = 1 << 14, 1 << 15
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the only rights a rule on a file may hold
READ = EXECUTE | READ_FILE | READ_DIR
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2
PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_CAP_AMBIENT = 22, 38, 24, 8, 47
PR_CAP_AMBIENT_RAISE, SECCOMP_MODE_FILTER = 2, 2
CAP_DAC_READ_SEARCH = 2
_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class ConfineError(Exception):
    """A step of the confinement failed."""


def _check(result: int, what: str) -> int:
    if result < 0:
        raise ConfineError(f"{what}: {os.strerror(ctypes.get_errno())}")
    return result


def abi() -> int:
    """The Landlock ABI version of the running kernel; 0 when Landlock is missing or disabled."""
    version = _libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(0, version)


def handled(version: int) -> tuple[int, int, int]:
    """(filesystem rights, network rights, scopes) a ruleset handles under ABI `version`."""
    fs = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
    fs |= (1 << 13) if version >= 2 else 0  # REFER
    fs |= TRUNCATE if version >= 3 else 0
    fs |= IOCTL_DEV if version >= 5 else 0
    net = NET_BIND_TCP | NET_CONNECT_TCP if version >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0
    return fs, net, scoped


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class Ruleset:
    def __init__(self, version: int):
        self.fs, net, scoped = handled(version)
        fields = [self.fs] + ([net] if version >= 4 else []) + ([scoped] if version >= 6 else [])
        attr = ctypes.create_string_buffer(struct.pack(f"={len(fields)}Q", *fields))
        self.fd = _check(_libc.syscall(SYS_CREATE_RULESET, attr, ctypes.c_size_t(len(attr.raw)), ctypes.c_uint32(0)),
                         "landlock_create_ruleset")

    def allow(self, path: str, access: int, hide: list[str] = (), follow: bool = True) -> None:
        """Grant `access` on `path` and beneath it, except below the `hide` paths (real paths)."""
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW))
        except FileNotFoundError:
            return
        try:
            real = os.path.realpath(f"/proc/self/fd/{fd}")
            if any(_is_within(real, h) for h in hide):
                return
            is_dir = os.path.isdir(f"/proc/self/fd/{fd}")
            inside = [h for h in hide if _is_within(h, real)]
            if inside and is_dir:
                self._add(fd, READ_DIR)
                for entry in os.scandir(real):
                    if not entry.is_symlink():
                        self.allow(entry.path, access, inside, follow=False)
            else:
                self._add(fd, (access if is_dir else access & FILE_RIGHTS) & self.fs)
        finally:
            os.close(fd)

    def _add(self, fd: int, access: int) -> None:
        attr = ctypes.create_string_buffer(struct.pack("=Qi", access, fd))
        _check(_libc.syscall(SYS_ADD_RULE, ctypes.c_int(self.fd), ctypes.c_int(RULE_PATH_BENEATH), attr,
                             ctypes.c_uint32(0)), f"landlock_add_rule({os.readlink(f'/proc/self/fd/{fd}')})")

    def restrict_self(self) -> None:
        _check(_libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(self.fd), ctypes.c_uint32(0)), "landlock_restrict_self")
        os.close(self.fd)


def _prctl(option: int, arg: int, what: str) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)), what)


def _become(uid: int, gid: int) -> None:
    """Switch to uid/gid, keeping CAP_DAC_READ_SEARCH alone (permitted, effective, inheritable, ambient)."""
    for cap in range(64):
        if cap != CAP_DAC_READ_SEARCH and _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) < 0:
            if ctypes.get_errno() == 22:  # EINVAL: past the last capability
                break
            raise ConfineError(f"dropping capability {cap}: {os.strerror(ctypes.get_errno())}")
    os.setgroups([])
    _prctl(PR_SET_KEEPCAPS, 1, "PR_SET_KEEPCAPS")
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    header = ctypes.create_string_buffer(struct.pack("=Ii", _CAPABILITY_VERSION_3, 0))
    keep = 1 << CAP_DAC_READ_SEARCH
    data = ctypes.create_string_buffer(struct.pack("=6I", keep, keep, keep, 0, 0, 0))
    _check(_libc.capset(header, data), "capset")
    _check(_libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_RAISE), ctypes.c_ulong(CAP_DAC_READ_SEARCH),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), "PR_CAP_AMBIENT_RAISE")
    _prctl(PR_SET_KEEPCAPS, 0, "PR_SET_KEEPCAPS")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _install_seccomp(program: bytes) -> None:
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(_libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), "installing the seccomp filter")


def confine(config: dict) -> None:
    """Apply `config` (see the module docstring) to this process."""
    version = abi()
    if version < 1:
        raise ConfineError("Landlock is not available in this kernel")
    ruleset = Ruleset(version)
    hide = [os.path.realpath(p) for p in config.get("hide", [])]
    for path in config.get("read", []):
        ruleset.allow(path, READ, hide)
    ruleset.allow(f"/proc/{os.getpid()}", READ_FILE | READ_DIR)  # this process's own /proc/self, after exec too
    for path in config.get("devices", []):
        ruleset.allow(path, READ_FILE | WRITE_FILE)
    for path in config.get("write", []):
        ruleset.allow(path, ruleset.fs)
    if config.get("uid") is not None:
        _become(int(config["uid"]), int(config["gid"]))
    if config.get("nproc") is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(config["nproc"]), int(config["nproc"])))
    _prctl(PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
    ruleset.restrict_self()
    if config.get("seccomp"):
        _install_seccomp(bytes.fromhex(config["seccomp"]))


def main(argv: list[str]) -> None:
    try:
        if len(argv) < 4 or argv[2] != "--":
            raise ConfineError("usage: confine.py CONFIG -- COMMAND...")
        confine(json.loads(argv[1]))
        os.execv(argv[3], argv[3:])
    except (ConfineError, OSError, ValueError, KeyError) as exc:
        os.write(2, f"nnkit-confine: {exc}\n".encode(errors="replace"))
        os._exit(126)


if __name__ == "__main__":
    main(sys.argv)
