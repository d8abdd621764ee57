"""A folder of GitHub Classroom repositories, as GitHub Classroom's assistant or ``gh classroom clone
student-repos`` writes it: one ``<assignment>-<github username>/`` per student, each a git repository (or a checkout
without ``.git``).

The id is the GitHub username: the folder name without the prefix every folder shares. The submission time is the
last commit's committer time (``git log -1``), which the student's own clock and git settings decide: use it for a
deadline only if you trust it, or take the times from GitHub's push events.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path

from grader.intake.incoming import Incoming

GIT_TIMEOUT = 20


def repositories(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.is_symlink()
                  and not p.name.startswith("."))


def looks_like(folder: Path) -> bool:
    """Whether most subfolders are git repositories sharing a ``<assignment>-`` prefix."""
    repos = repositories(folder)
    with_git = sum((p / ".git").exists() for p in repos)
    return bool(repos) and with_git * 2 > len(repos) and bool(common_prefix([p.name for p in repos]) or
                                                              len(repos) == 1)


def common_prefix(names: list[str]) -> str:
    """The longest prefix ending in ``-`` that every name has and none is only."""
    if len(names) < 2:
        return ""
    prefix = os.path.commonprefix(names)
    prefix = prefix[:prefix.rfind("-") + 1]
    return prefix if all(len(n) > len(prefix) for n in names) else ""


def last_commit(repo: Path) -> tuple[datetime | None, str]:
    """The committer time of HEAD, or None and why not. Runs the trusted git binary with no user or system
    configuration, no pager and no signature checks; it reads the repository and runs none of its code."""
    if not (repo / ".git").exists():
        return None, "no .git folder (a checkout without history), so no submission time"
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
           "GIT_OPTIONAL_LOCKS": "0"}
    cmd = ["git", "--no-pager", "-c", f"safe.directory={repo.resolve()}", "-c", "core.fsmonitor=false",
           "-c", "log.showSignature=false", "-C", str(repo), "log", "-1", "--format=%cI", "HEAD"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=GIT_TIMEOUT, env=env,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"git could not read the history ({type(exc).__name__})"
    if proc.returncode != 0 or not proc.stdout.strip():
        reason = (proc.stderr.strip().splitlines() or ["no commits"])[-1][:160]
        return None, f"git could not read the history ({reason})"
    try:
        return datetime.fromisoformat(proc.stdout.strip()), ""
    except ValueError:
        return None, f"git gave an unreadable commit time {proc.stdout.strip()[:40]!r}"


def read(folder: Path) -> tuple[list[Incoming], list[str]]:
    repos = repositories(folder)
    prefix = common_prefix([p.name for p in repos])
    found, report = [], []
    for repo in repos:
        user = repo.name[len(prefix):]
        when, problem = last_commit(repo)
        item = Incoming(user, repo, "classroom", site_id=user, submitted_at=when)
        if problem:
            item.notes.append(problem)
            report.append(f"no time: {user}: {problem}")
        found.append(item)
    return found, report
