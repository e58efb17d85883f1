"""Writing files so that a failure never leaves a half-written one; reading NumPy files that may
be damaged or hostile (no pickles) with one-line errors."""

from __future__ import annotations

import os
import tempfile
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["atomic_write", "read_arrays"]

# what np.load raises on damaged .npy / .npz files (pickles are refused: allow_pickle=False); it
# parses a .npy header with tokenize and ast, whose errors are not ValueErrors
_NUMPY_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, TypeError, SyntaxError,
                 tokenize.TokenError)


def read_arrays(path, keys: tuple[str, ...] = ()):
    """A .npy file's array, or with ``keys`` those arrays of a .npz ({key: array}), fully read;
    any damage is a ValueError that names the file."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.ndarray):
            with loaded:
                if not keys:
                    raise ValueError("a .npz archive, not one .npy array")
                missing = [k for k in keys if k not in loaded.files]
                if missing:
                    raise ValueError(f"no array {missing[0]!r} in it")
                return {k: loaded[k] for k in keys}
        if keys:
            raise ValueError("one array, not a .npz archive")
        return loaded
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except _NUMPY_ERRORS as e:
        raise ValueError(f"{path}: not a readable NumPy file ({(str(e) or type(e).__name__).splitlines()[0][:120]})") from None


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: a failure leaves no file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
