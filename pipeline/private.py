"""The data directory is private to the user vlsearch runs as: folders 0700, files 0600.

It holds what a colleague on a shared host must not read: the audit log (who searched for what), the
moderation decisions, feedback, uploads and the collection itself. vlsearch creates its own folders and
SQLite files with these modes. LanceDB writes new files on every commit and SQLite makes -wal/-shm files of
its own, so the process umask is narrowed to 077 once vlsearch opens its data (it is only ever narrowed:
everything this process creates afterwards, exports included, is private to its user). A data directory
made by an earlier version is tightened when the services are built.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
GROUP_AND_OTHER = 0o077
POSIX = os.name == "posix"


def restrict_umask() -> None:
    """Narrow the process umask so that whatever the libraries create is private; never widens it."""
    if POSIX:
        current = os.umask(GROUP_AND_OTHER)
        os.umask(current | GROUP_AND_OTHER)


def make_private_dir(path: Path) -> None:
    """Create `path` and its missing parents as 0700 (an existing folder is left as it is)."""
    restrict_umask()
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)


def make_private_file(path: Path) -> None:
    """Create an empty file as 0600, or take group and other access away from an existing one of ours."""
    restrict_umask()
    descriptor = os.open(path, os.O_CREAT | os.O_RDONLY, PRIVATE_FILE_MODE)
    try:
        if POSIX:
            info = os.fstat(descriptor)
            if info.st_mode & GROUP_AND_OTHER and info.st_uid == os.geteuid():
                os.fchmod(descriptor, stat.S_IMODE(info.st_mode) & ~GROUP_AND_OTHER)
    finally:
        os.close(descriptor)


def keep_data_private(data_dir: Path) -> int:
    """Narrow the umask, and when the data directory is open to group or others (an earlier version made it),
    take that access away from it and everything in it; returns how many paths were changed.

    A private data directory is not walked again (nobody else can reach what is inside), so this costs one
    stat on every start after the first. Symbolic links are neither followed nor changed, and only paths this
    user owns are changed.
    """
    restrict_umask()
    if not POSIX:
        return 0
    data_dir = data_dir.resolve()  # a data directory that is a link: its target
    try:
        info = os.stat(data_dir)
    except OSError:
        return 0  # not made yet: vlsearch makes it private
    if not info.st_mode & GROUP_AND_OTHER:
        return 0
    changed = _tighten_tree(data_dir)
    if changed:
        log.warning(
            "took group and other access away from %d paths in %s: the data directory is private to its user "
            "(folders 0700, files 0600)",
            changed,
            data_dir,
        )
    return changed


def _tighten_tree(root: Path) -> int:
    """Remove group and other permission bits below and including `root`, without recursion."""
    changed = 0
    pending = [str(root)]
    user = os.geteuid()
    while pending:
        path = pending.pop()
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode) or info.st_uid != user:
            continue
        if info.st_mode & GROUP_AND_OTHER:
            try:
                os.chmod(path, stat.S_IMODE(info.st_mode) & ~GROUP_AND_OTHER)
                changed += 1
            except OSError as error:
                log.warning("cannot make %s private: %s", path, error)
        if stat.S_ISDIR(info.st_mode):
            try:
                with os.scandir(path) as entries:
                    pending.extend(entry.path for entry in entries)
            except OSError as error:
                log.warning("cannot look inside %s to make it private: %s", path, error)
    return changed
