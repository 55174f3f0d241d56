"""Files on the server: only regular files, and for paths someone else chose only below a root.

The app reads server folders for signed-in analysts, and a manifest names paths whoever wrote it
chose: unchecked, either reads anything the service user can (/etc, a symlink to a private file) and
shows it to every role. A FIFO or a device opened like a file blocks a thread forever. So a path is
resolved (every symlink followed) before it is compared with its root, every entry is stat'ed, not
opened, before it is read, and a file is opened without blocking and checked again on the open
descriptor (docs/security.md#files-on-the-server).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BufferedReader
from pathlib import Path

from pipeline.errors import BadInput

ROOTS_SETTING = "VLSEARCH_INGEST_ROOTS"
DESCRIPTORS = Path("/proc/self/fd")  # Linux names each open descriptor's file here
OUTSIDE_ROOT = "a symbolic link that leads outside the ingest root"

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


@dataclass
class Walked:
    """The regular files below a folder, and every other entry with the reason it is left out."""

    files: list[Path] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words ("a FIFO")."""
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def resolved_root(path: Path, roots: Sequence[Path]) -> Path | None:
    """The first root (resolved) that holds `path` once every symlink in both is followed, else None."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop (RuntimeError up to Python 3.12), a NUL
        return None
    for root in roots:
        try:
            real_root = root.resolve()
        except (OSError, RuntimeError):
            continue
        if real.is_relative_to(real_root):
            return real_root
    return None


def reason_of(error: OSError, path: Path) -> str:
    """An OSError about `path` in words a user can act on."""
    if error.errno == errno.ELOOP:
        return "a symbolic link loop"
    if error.errno in (errno.ENOENT, errno.ENOTDIR) and path.is_symlink():
        return "a symbolic link to nothing (its target is missing)"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if error.errno == errno.ENOENT:
        return "no such file"
    return f"cannot read ({error.strerror or error})"


def file_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a file, found without opening it (stat follows symlinks); None if it can."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return reason_of(error, path)
    except ValueError:  # a NUL character
        return "not a valid path"
    return None if stat.S_ISREG(mode) else f"not a regular file: {kind_of(mode)}"


def walk(folder: Path, root: Path | None = None) -> Walked:
    """Every entry below `folder` in name order; links to folders are reported, not followed.

    With `root`, a file whose symlinks lead outside it is reported, not listed. Nothing is opened.
    """
    walked = Walked()

    def unlistable(error: OSError) -> None:
        where = Path(error.filename) if error.filename else folder
        walked.problems.append((where, f"cannot list the folder: {reason_of(error, where)}"))

    for current, folders, names in os.walk(folder, onerror=unlistable):
        here = Path(current)
        for name in sorted(folders):
            if (here / name).is_symlink():
                folders.remove(name)
                walked.problems.append((here / name, "a symbolic link to a folder: not followed"))
        folders.sort()
        for name in sorted(names):
            path = here / name
            problem = file_problem(path)
            if problem is None and root is not None and resolved_root(path, [root]) is None:
                problem = OUTSIDE_ROOT
            if problem is None:
                walked.files.append(path)
            else:
                walked.problems.append((path, problem))
    walked.files.sort()
    return walked


def open_regular(path: Path, source: str, root: Path | None = None) -> BufferedReader:
    """Open a regular file to read, never blocking on a FIFO nor opening a device; with `root`, only while the
    file is below it: checked on the path before opening and, where the system names descriptors, on the
    descriptor after, so a path swapped for a symlink in between is refused."""
    if root is not None and resolved_root(path, [root]) is None:
        raise BadInput(source, OUTSIDE_ROOT)
    problem = file_problem(path)
    if problem is not None:
        raise BadInput(source, problem)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_NOFOLLOW if root is not None else 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if root is not None and error.errno == errno.ELOOP:
            raise BadInput(source, "a symbolic link appeared where the file was") from error
        raise BadInput(source, reason_of(error, path)) from error
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise BadInput(source, f"not a regular file: {kind_of(mode)}")
        if root is not None:
            opened = _path_of_descriptor(descriptor)
            if opened is not None and not opened.is_relative_to(root.resolve()):
                raise BadInput(source, "outside the ingest root (the path changed while it was opened)")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def path_of_open_file(file: BufferedReader, path: Path) -> Path:
    """A name that opens the very file `file` is (Linux: /proc/self/fd/N), so a decoder that opens by name reads
    what was checked and hashed even if `path` is swapped meanwhile; where there is none, `path`."""
    named = DESCRIPTORS / str(file.fileno())
    return named if named.exists() else path


def _path_of_descriptor(descriptor: int) -> Path | None:
    try:
        return Path(os.readlink(DESCRIPTORS / str(descriptor)))
    except OSError:  # no /proc (macOS, BSD): the check on the path before opening stands alone
        return None
