"""Files only the service's own user may read: the data dir (0700) and what the service writes into it (0600).

The SQLite file holds every lead and person, the embedded Redis's append-only and snapshot files every queued
message (text and sender ids), its log the clients it saw. Nobody else on the machine needs any of them. Modes are
set when a file is made and tightened on start for installs made before, so an upgrade closes them too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# What a process writing files into a private directory runs with (the embedded Redis server): files 0600, dirs 0700.
UMASK = 0o077


def private_dir(path: Path) -> Path:
    """`path`, created if missing, readable by this user only (a directory that is someone else's is left alone)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """`path`, created empty if missing, readable and writable by this user only."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace `path`'s content with `text`, the file readable by this user only."""
    private_file(path)
    path.write_text(text)


def tighten_tree(root: Path) -> None:
    """Every directory under `root` 0700 and every file 0600 (a data dir from before these rules)."""
    if not root.is_dir():
        return
    for dirpath, _dirnames, filenames in os.walk(root):
        _tighten(Path(dirpath), DIR_MODE)
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_socket():
                _tighten(path, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    # Only our own files, and only ever taking permissions away.
    if st.st_uid == os.getuid() and st.st_mode & 0o777 & ~mode:
        path.chmod(st.st_mode & 0o777 & mode)
