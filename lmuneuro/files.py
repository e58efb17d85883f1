"""The edges of the file system, in one place.

Writes: an output is checked before any work starts (not a directory, not the same file as an
input, in a writable place) and written whole or not at all: the bytes are made in memory, written
to a temporary file beside the output and renamed onto it; any failure (an error, a full disk,
Ctrl-C) removes the temporary file and any folder the write created.

Structured text (JSON, TOML) is parsed by ``parse_json`` / ``parse_toml`` alone: nested at most
``MAX_DEPTH`` levels, JSON's numbers finite. JSON is written by ``to_json`` alone: strict (no NaN or
Infinity). Text from files shown on a terminal goes through ``printable``.

Reads: every input is untrusted. What a file declares (an array's shape, a zip member's size, a
text file's length) is checked against the file's real size and one memory budget
(``read_budget``) before anything is allocated for it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import re
import stat
import tempfile
import tokenize
import tomllib
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "OutputError",
    "read_budget",
    "check_budget",
    "gib",
    "check_output",
    "write_output",
    "read_text",
    "check_nesting",
    "parse_json",
    "parse_toml",
    "to_json",
    "printable",
    "read_arrays",
    "check_zip",
    "sha256",
    "check_sha256",
    "TEXT_LIMIT",
]

# what np.load raises on damaged .npy / .npz files (pickles are refused: allow_pickle=False); it
# parses a .npy header with tokenize and ast, whose errors are not ValueErrors
_NUMPY_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
    TypeError,
    SyntaxError,
    tokenize.TokenError,
    MemoryError,
)
_BUDGET_CAP = 4 * 2**30
TEXT_LIMIT = (
    16 * 2**20
)  # profiles and activity files are kilobytes; JSON/TOML parse to ~10x their size


class OutputError(ValueError):
    """An output that cannot or must not be written; one line naming the path."""


def gib(n: int) -> str:
    """A size in bytes as people read it (MiB or GiB)."""
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"


def read_budget() -> int:
    """Bytes that reading one input may allocate: 4 GiB or half the memory available now, the
    smaller."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            avail = next(
                int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")
            )
    except (OSError, StopIteration, ValueError, IndexError):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 2 * _BUDGET_CAP
    return int(min(_BUDGET_CAP, avail // 2))


def check_budget(nbytes: int, what: str) -> None:
    """``what`` declares ``nbytes``: refuse it if reading it would exceed the budget."""
    budget = read_budget()
    if nbytes > budget:
        raise ValueError(
            f"{what}: declares {gib(nbytes)}, more than the {gib(budget)} budget for reading one "
            "input"
        )


# ------------------------------------------------------------------------------------------ writes


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _stat(path) -> os.stat_result | None:
    try:
        return os.stat(path)  # follows links: a link to an input is that input
    except (OSError, ValueError):
        return None


def check_output(path, inputs=(), *, directory: bool = False) -> None:
    """Refuse, before any work, an output that would replace an input, is a directory (or, with
    ``directory``, a file), or cannot be created. Missing parent folders are created by the
    write."""
    p = Path(path)
    if str(path) == "" or "\0" in str(path):
        raise OutputError(f"{path!r}: not a usable output path")
    st = _stat(p)
    if st is not None:
        if directory != stat.S_ISDIR(st.st_mode):
            raise OutputError(
                f"{p}: is {'not ' if directory else ''}a directory; give "
                f"{'a folder' if directory else 'a file name'} to write"
            )
        for src in inputs:
            if src is None:
                continue
            s = _stat(src)
            if s is not None and (
                _same_file(st, s) or (stat.S_ISDIR(s.st_mode) and _inside(p, src))
            ):
                raise OutputError(
                    f"{p}: is an input of this command ({src}); writing it would destroy that input"
                )
    elif p.is_symlink():
        raise OutputError(f"{p}: is a broken link; give a file name to write")
    ancestor = p if (st is not None and directory) else p.parent
    while not ancestor.exists():
        if ancestor.is_symlink() or ancestor == ancestor.parent:
            raise OutputError(f"{p}: its folder cannot be created")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{p}: {ancestor} is not a directory")
    if not os.access(
        ancestor, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids
    ):
        raise OutputError(f"{p}: {ancestor} is not writable")


def _inside(path: Path, folder) -> bool:
    try:
        path.resolve().relative_to(Path(folder).resolve())
        return True
    except (ValueError, OSError, RuntimeError):
        return False


def make_dirs(folder) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first (to undo)."""
    folder, made = Path(folder), []
    while not folder.exists():
        made.append(folder)
        folder = folder.parent
    made.reverse()
    for d in made:
        d.mkdir()
    return made


def remove_dirs(made: list[Path]) -> None:
    for d in reversed(made):
        try:
            d.rmdir()
        except OSError:
            break  # not empty or gone: something else lives there now


def remove_stale(path: Path) -> list[Path]:
    """Remove the temporary files that killed writes of ``path`` left beside it (SIGKILL, a power
    cut: no handler runs): those whose writer, the process named in them, is gone. The ones
    removed."""
    removed = []
    try:
        leftovers = list(path.parent.glob(glob.escape(f".{path.name}.") + "*.tmp"))
    except OSError:
        return removed
    for p in leftovers:
        pid = p.name[len(path.name) + 2 :].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass  # another run removed it, or it is not ours to remove
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):
        return True  # another user's process (EPERM), or no number of a process: keep its file
    return True


def write_output(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` whole or not at all; an OSError (full disk, permissions, a name
    too long) is an OutputError naming the path, and nothing of the attempt remains. The
    temporary file is named with this process's id, so that the next write of ``path`` removes
    one a killed process left (``remove_stale``)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = Path(path)
    made, tmp = [], None
    try:
        made = make_dirs(path.parent)
        remove_stale(path)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
        )
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # a full disk shows here at the latest, not after the rename
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result is an ordinary file
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        remove_dirs(made)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {path}: {e.strerror or type(e).__name__}") from None
        raise


# ------------------------------------------------------------------------------------------- reads


def _size(path) -> int:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path}: not a regular file")  # a FIFO or a device would never end
    return st.st_size


def sha256(path) -> str:
    """The SHA-256 of a file's bytes (as ``sha256sum`` prints it), read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sha256(path, expected: str) -> None:
    """The file must be exactly the one whose SHA-256 the user pinned (for instance from convert's
    report, passed on by a trusted channel); checked before anything in it is read."""
    want = expected.strip().lower()
    if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
        raise ValueError(f"expected SHA-256 {expected!r} is not 64 hexadecimal digits")
    _size(path)
    got = sha256(path)
    if got != want:
        raise ValueError(
            f"{path}: SHA-256 {got[:16]}... differs from the expected {want[:16]}...: not the file "
            "that was pinned"
        )


def read_text(path, limit: int = TEXT_LIMIT) -> str:
    """A UTF-8 text file of at most ``limit`` bytes (checked before reading). Its ValueErrors do
    not name the file: the caller says what the file was meant to be."""
    size = _size(path)
    if size > limit:
        raise ValueError(f"{gib(size)}, far larger than such a file can be (at most {gib(limit)})")
    return Path(path).read_bytes()[:limit].decode("utf-8")


MAX_DEPTH = 64  # nesting of a JSON or TOML file; lmuneuro's own go 5 deep
# TOML keys are one line each; tomllib's memory grows with the square of a key's dots (3,000:
# 47 MiB), so a line's dots outside strings are bounded before it parses
_TOML_LINE_DOTS = 1000
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _deepest(obj) -> int:
    """How deeply containers nest in ``obj``, counted without recursion."""
    deepest, todo = 0, [(obj, 1)]
    while todo:
        o, depth = todo.pop()
        if isinstance(o, (dict, list, tuple)):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                todo.extend((v, depth + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"{text[:40]} is not a finite number")
    return v


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number (strict JSON has no NaN or Infinity)")


def check_nesting(obj, what: str):
    """``obj`` (a parsed file: JSON, TOML, a checkpoint's containers) when its containers nest at
    most ``MAX_DEPTH`` levels; deeper, a ValueError: whatever walks it next would recurse that
    deep."""
    if _deepest(obj) > MAX_DEPTH:
        raise ValueError(f"{what}: nested more than {MAX_DEPTH} levels deep")
    return obj


def parse_json(text: str):
    """Strict JSON: numbers finite (no NaN, Infinity, nor 1e400), nested at most ``MAX_DEPTH``
    levels; any problem is a ValueError (without the file's name: the caller gives it)."""
    try:
        obj = json.loads(text, parse_float=_finite, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"not valid JSON: nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e})") from None
    return check_nesting(obj, "not valid JSON")


def parse_toml(text: str) -> dict:
    """TOML, nested at most ``MAX_DEPTH`` levels; a ValueError otherwise (its values are the
    reader's to check: it names the field)."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.count(".") > _TOML_LINE_DOTS and _STRING.sub("", line).count(".") > _TOML_LINE_DOTS:
            raise ValueError(
                f"not valid TOML: line {n} nests keys more than {_TOML_LINE_DOTS} levels deep"
            )
    try:
        table = tomllib.loads(text)
    except RecursionError:
        raise ValueError(f"not valid TOML: nested more than {MAX_DEPTH} levels deep") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"not valid TOML ({e})") from None
    return check_nesting(table, "not valid TOML")


def _nonfinite(obj) -> str | None:
    """Where in ``obj`` a float is NaN or infinite (``MAX_DEPTH`` levels searched), or None."""
    todo = [(obj, "", 0)]
    while todo:
        o, at, depth = todo.pop()
        if isinstance(o, float) and not math.isfinite(o):
            return f"{at or '(the value)'} = {o}"
        if depth < MAX_DEPTH and isinstance(o, dict):
            todo.extend((v, f"{at}.{k}" if at else str(k), depth + 1) for k, v in o.items())
        elif depth < MAX_DEPTH and isinstance(o, (list, tuple)):
            todo.extend((v, f"{at}[{i}]", depth + 1) for i, v in enumerate(o))
    return None


def to_json(obj, **kw) -> str:
    """``obj`` as strict JSON (``json.dumps`` keywords): a NaN or infinite figure is a ValueError
    naming where it is, never the NaN or Infinity that JSON parsers refuse."""
    try:
        return json.dumps(obj, allow_nan=False, **kw)
    except ValueError:
        where = _nonfinite(obj)
        if where is None:
            raise
        raise ValueError(
            f"cannot write strict JSON: {printable(where, 200)} is not finite"
        ) from None


# control characters (C0, DEL, C1), invisible and bidirectional formatting, lone surrogates (from
# undecodable bytes): what a terminal would obey or hide rather than show
_HIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]"
)


def printable(text, limit: int | None = None, keep: str = "") -> str:
    """``text`` safe to show on a terminal: control and invisible characters as Python escapes
    (``\\x1b``), except those in ``keep``; longer than ``limit``, cut with a count of the rest."""
    text = str(text)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit:,} more characters)"
    return _HIDDEN.sub(lambda m: m[0] if m[0] in keep else ascii(m[0])[1:-1], text)


def _npy_declared(f, what: str) -> tuple[int, int]:
    """(bytes the array declares, the header's length) from a .npy stream at its start."""
    try:
        start = f.tell()
        version = np.lib.format.read_magic(f)
        header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )(f, max_header_size=10000)
        shape, _, dtype = header
        return int(np.prod(shape, dtype=object)) * dtype.itemsize, f.tell() - start
    except _NUMPY_ERRORS as e:
        raise ValueError(
            f"{what}: not a readable NumPy file "
            f"({(str(e) or type(e).__name__).splitlines()[0][:120]})"
        ) from None


def _check_declared(declared: int, held: int, what: str) -> None:
    check_budget(declared, what)
    if declared > held:
        raise ValueError(f"{what}: declares an array of {declared:,} bytes but holds {held:,}")


# a file's kind by its first bytes, never by its name: HDF5 (an artifact, or a NIR graph) and the
# zip archive that torch.save writes (a checkpoint)
_SIGNATURES = {b"\x89HDF\r\n\x1a\n": "hdf5", b"PK\x03\x04": "zip"}


def file_kind(path) -> str | None:
    """The file's kind by its signature, "hdf5" or "zip"; None for anything else, or for what is
    not a regular file (a pipe is never opened here)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as f:
            head = f.read(8)
    except (OSError, ValueError):
        return None
    return next((kind for sig, kind in _SIGNATURES.items() if head.startswith(sig)), None)


def check_zip(path, what: str | None = None) -> bool:
    """Whether ``path`` is a zip archive; refuse one whose members declare more than the read
    budget in all (a compression bomb)."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    check_budget(sum(i.file_size for i in infos), what or str(path))
    return True


def read_arrays(path, keys: tuple[str, ...] = ()):
    """A .npy file's array, or with ``keys`` those arrays of a .npz ({key: array}), fully read;
    every declared size is checked first, and any damage is a ValueError that names the file."""
    size = _size(path)
    try:
        if check_zip(path):
            if not keys:
                raise ValueError("a .npz archive, not one .npy array")
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                missing = [k for k in keys if f"{k}.npy" not in names]
                if missing:
                    raise ValueError(f"no array {missing[0]!r} in it")
                for k in keys:
                    info = z.getinfo(f"{k}.npy")
                    with z.open(info) as f:
                        declared, header = _npy_declared(f, f"{path}[{k}]")
                    _check_declared(declared, info.file_size - header, f"{path}[{k}]")
            with np.load(path, allow_pickle=False) as loaded:
                return {k: loaded[k] for k in keys}
        if keys:
            raise ValueError("one array, not a .npz archive")
        with open(path, "rb") as f:
            declared, header = _npy_declared(f, str(path))
        _check_declared(declared, size - header, str(path))
        return np.load(path, allow_pickle=False)
    except _NUMPY_ERRORS as e:
        msg = (str(e) or type(e).__name__).splitlines()[0]
        if msg.startswith(str(path)):
            raise ValueError(msg) from None
        raise ValueError(f"{path}: not a readable NumPy file ({msg[:120]})") from None
