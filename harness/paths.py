"""Where results, reports and figures go, checked before any work starts.

A results directory that cannot be written is otherwise found out after the
grid has trained (a traceback, exit 1, the runs lost). These checks turn each
way a path can be unusable into one :class:`ConfigError` naming the path and
the problem: a regular file where a directory should be, a name or path too
long for the file system, a read-only parent, a system file system.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import ConfigError

#: Kernel file systems that hold no user files; writing there fails late and oddly.
REFUSED_ROOTS = (Path("/proc"), Path("/sys"))
#: POSIX fallbacks when the file system does not say (``os.pathconf``).
DEFAULT_NAME_MAX = 255
DEFAULT_PATH_MAX = 4096


def _limit(path: Path, name: str, default: int) -> int:
    try:
        value = os.pathconf(path, name)
    except (OSError, ValueError):
        return default
    return value if value and value > 0 else default


def _nearest_existing(path: Path) -> Path:
    """``path`` itself, or its closest ancestor that exists (a file or a directory)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or "/")


def _short(text: str, keep: int = 40) -> str:
    """A name cut to its two ends, so an error about a 300-character name stays readable."""
    return text if len(text) <= 2 * keep else f"{text[:keep]}...{text[-keep:]}"


def _check_lengths(path: Path, what: str, shown: str) -> None:
    """Every name within NAME_MAX bytes and the whole path within PATH_MAX, as the file system counts."""
    shown = _short(shown, 60)
    base = _nearest_existing(path)
    folder = base if base.is_dir() else base.parent  # the file system the new names would land on
    name_max = _limit(folder, "PC_NAME_MAX", DEFAULT_NAME_MAX)
    path_max = _limit(folder, "PC_PATH_MAX", DEFAULT_PATH_MAX)
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise ConfigError(
                f"{what} {shown}: the name {_short(part)!r} is {size} bytes long, over the file system's limit of "
                f"{name_max}"
            )
    size = len(os.fsencode(str(path)))
    if size >= path_max:
        raise ConfigError(f"{what} {shown}: the path is {size} bytes long, over the limit of {path_max - 1}")


def _check_not_system(path: Path, what: str, shown: str) -> None:
    real = Path(os.path.realpath(path))
    for root in REFUSED_ROOTS:
        if real == root or root in real.parents:
            raise ConfigError(f"{what} {shown} is under {root}, a kernel file system that cannot hold results")


def _probe_create(path: Path, what: str, shown: str) -> None:
    """Create the missing directories of ``path`` to prove it can be done, then remove them again.

    Nothing is left behind, so a sweep that then fails on a bad name leaves no empty results folder.
    """
    created = []
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    try:
        for directory in reversed(missing):
            os.mkdir(directory)
            created.append(directory)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"{what} {shown} cannot be created: {reason}") from None
    finally:
        for directory in reversed(created):
            try:
                os.rmdir(directory)
            except OSError:
                pass  # something else wrote there meanwhile: keep it


def _check_dir(target: Path, what: str, shown: str) -> None:
    """The checks of :func:`check_output_dir` on an absolute ``target``; ``shown`` is the path the user gave."""
    _check_lengths(target, what, shown)
    _check_not_system(target, what, shown)
    base = _nearest_existing(target)
    if base == target:
        if not base.is_dir():
            raise ConfigError(f"{what} {shown} is a file, not a directory")
        if not os.access(base, os.W_OK | os.X_OK):
            raise ConfigError(f"{what} {shown} is not writable (permission denied)")
        return
    if not base.is_dir():
        raise ConfigError(f"{what} {shown} cannot be created: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {shown} cannot be created: {base} is not writable (permission denied)")
    _probe_create(target, what, shown)


def check_output_dir(path: str | os.PathLike, what: str = "output directory") -> Path:
    """``path`` as a Path, once it is sure to be (or to become) a writable directory; else a ConfigError.

    ``what`` names it in the message (``"plots directory"``, ``"results directory"``).
    """
    _check_dir(Path(os.path.abspath(Path(path).expanduser())), what, str(path))
    return Path(path).expanduser()


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """``path`` as a Path, once a file can be written there: not a directory, its folder a writable directory.

    An existing file only has to be writable (``/dev/stdout`` is fine); a new one needs its folder.
    """
    shown = str(path)
    target = Path(os.path.abspath(Path(path).expanduser()))
    _check_lengths(target, what, shown)
    _check_not_system(target, what, shown)
    if target.is_dir():
        raise ConfigError(f"{what} {shown} is a directory; give a file name")
    if target.exists():
        if not os.access(target, os.W_OK):
            raise ConfigError(f"{what} {shown} is not writable (permission denied)")
    else:
        _check_dir(target.parent, f"{what} {shown}: its folder", str(target.parent))
    return Path(path).expanduser()
