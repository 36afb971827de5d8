"""Files only their owner may read: secrets, cluster state, server configuration.

Every write goes to a fresh temporary file opened with ``O_EXCL | O_NOFOLLOW`` and is renamed
over the target, so a symlink planted where the file should be is replaced, never written
through; reads refuse symlinks. Ownership is set on the open descriptor (``fchown``), never by
path, so no chown can be redirected to a file elsewhere.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def write_private(
    path: Path,
    data: str | bytes,
    *,
    mode: int = PRIVATE_FILE_MODE,
    owner: tuple[int, int] | None = None,
    sync: bool = True,
) -> None:
    """Atomically replace ``path`` with ``data`` (mode ``mode``, optionally ``owner`` uid/gid;
    ``sync``: on disk before the rename, for state that must survive a power cut)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        # The umask may have narrowed the mode at creation; fchmod sets it exactly.
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, path)


def read_nofollow(path: Path) -> str:
    """The text of ``path``; raises ``OSError`` (ELOOP) when it is a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, encoding="utf-8") as handle:
        return handle.read()
