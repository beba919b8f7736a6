"""Definitions as they stood in a git revision: ``git:REV:path`` (for ``portalspec diff``).

``git:REV:path`` is git's own ``REV:path``: the path is relative to the repository's root,
or to the working directory when it starts with ``./`` or ``../``. :func:`open_source` takes
either such a spec or a plain file path and gives a loaded :class:`~portalspec.loader.Document`
named by the spec, so diagnostics and positions say which version they are about.
Problems (no git, not a repository, no such revision or path) raise :class:`InputError`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path as FsPath

from .diagnostics import InputError
from .loader import MAX_FILE_BYTES, Document, parse_document, read_document

PREFIX = "git:"


def is_revision(spec: str) -> bool:
    return spec.startswith(PREFIX)


def split_revision(spec: str) -> tuple[str, str]:
    """``git:REV:path`` → ``(REV, path)``; a revision may itself hold a colon only in ``REV:path`` form."""
    rest = spec[len(PREFIX):]
    rev, sep, path = rest.partition(":")
    if not sep or not rev or not path:
        raise InputError(f"{spec!r}: expected git:REV:path, e.g. git:HEAD:integrations/acme/integration.yaml")
    return rev, path


def _git(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], capture_output=True, cwd=cwd, timeout=60, check=False)
    except FileNotFoundError:
        raise InputError("git is not installed (needed for git:REV:path)") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"git {' '.join(args)} took longer than 60 s") from None


def _reason(result: subprocess.CompletedProcess[bytes]) -> str:
    text = result.stderr.decode("utf-8", "replace").strip().splitlines()
    return text[-1].removeprefix("fatal: ") if text else f"git exited with {result.returncode}"


def exists_in(rev: str, path: str) -> bool:
    """Whether ``path`` (git's spelling) is a file in ``rev``; False too when ``rev`` has no commit yet."""
    return _git("cat-file", "-e", f"{rev}:{path}").returncode == 0


def is_commit(rev: str) -> bool:
    return _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode == 0


def read_revision(spec: str) -> Document:
    """The definition at ``git:REV:path``, loaded (never checked); relative paths in it (the logo)
    resolve beside the working copy of the file."""
    rev, path = split_revision(spec)
    result = _git("show", f"{rev}:{path}")
    if result.returncode != 0:
        raise InputError(f"{spec}: {_reason(result)}")
    if len(result.stdout) > MAX_FILE_BYTES:
        raise InputError(f"{spec}: the file is over {MAX_FILE_BYTES} bytes (1 MiB)")
    try:
        text = result.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{spec}: not valid UTF-8 (byte {exc.start})") from None
    base = FsPath(path).parent if path.startswith(("./", "../")) else _toplevel() / FsPath(path).parent
    return parse_document(text, spec, base)


def _toplevel() -> FsPath:
    result = _git("rev-parse", "--show-toplevel")
    return FsPath(result.stdout.decode().strip()) if result.returncode == 0 else FsPath.cwd()


def open_source(spec: str) -> Document:
    """A plain path, read from disk, or ``git:REV:path``, read from git."""
    return read_revision(spec) if is_revision(spec) else read_document(spec)


def revision_spec(rev: str, file: str) -> str:
    """The ``git:REV:path`` of working-tree ``file`` (relative to the working directory) in ``rev``."""
    relative = os.path.relpath(os.path.abspath(file))
    if not relative.startswith(".."):
        relative = "./" + relative
    return f"{PREFIX}{rev}:{relative.replace(os.sep, '/')}"
