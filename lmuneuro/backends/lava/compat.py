"""Python 3.11 compatibility for lava-nc 0.10 (which declares Python < 3.11), installed files
untouched.

Two problems, both handled by ``ensure_lava()``:

1. ``lava/magma/compiler/var_model.py`` gives dataclass fields instances of
the (unhashable) dataclass ``ByteEncoder`` as defaults, which Python 3.11 rejects with
"mutable default ... use default_factory". ``ensure_lava()`` installs an import hook that
compiles exactly that module with those defaults rewritten as ``field(default_factory=ByteEncoder)``
(each instance gets its own encoder, the behaviour the authors meant), then imports Lava.
If a Lava release changes the pattern, the hook fails loudly instead of guessing.
2. Lava's message infrastructure calls ``multiprocessing.set_start_method('fork')`` at import,
which raises "context has already been set" once anything in the process (a data loader, a test
runner) has fixed the start method. Lava's module is imported with that call tolerated when the
method is already 'fork' (Linux's default); any other method is a clear error.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import multiprocessing
import re
import sys
import warnings

_TARGET = "lava.magma.compiler.var_model"
_DEFAULT = re.compile(rb"^(\s+\w+: ByteEncoder) = ByteEncoder\(\)$", re.MULTILINE)


class _VarModelLoader(importlib.machinery.SourceFileLoader):
    def get_code(self, fullname):
        # Always from source: a cached .pyc would skip the rewrite.
        data = self.get_data(self.path)
        if sys.version_info >= (3, 11):
            data, n = _DEFAULT.subn(
                rb"\1 = __import__('dataclasses').field(default_factory=ByteEncoder)", data
            )
            if n == 0:
                raise ImportError(
                    f"lmuneuro's Lava shim found no ByteEncoder defaults to fix in {self.path}: "
                    "this lava-nc is not the pinned 0.10.0"
                )
        return self.source_to_code(data, self.path)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _VarModelLoader(fullname, spec.origin)
        return spec


def install() -> None:
    """Install the import hook (idempotent); must run before Lava's compiler is imported."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def _import_message_infrastructure() -> None:
    name = "lava.magma.runtime.message_infrastructure.multiprocessing"
    if name in sys.modules:
        return
    current = multiprocessing.get_start_method(allow_none=True)
    if current not in (None, "fork"):
        raise ImportError(
            f"Lava's CPU runtime needs the 'fork' start method; this process uses {current!r}"
        )
    original = multiprocessing.set_start_method
    multiprocessing.set_start_method = lambda method, force=False: original(
        method, force=force or method == current
    )
    try:
        importlib.import_module(name)
    finally:
        multiprocessing.set_start_method = original


def ensure_lava() -> None:
    """Make lava-nc importable on this Python, or raise an ImportError that says what is missing."""
    install()
    # Lava's DelaySparse model builds its per-delay matrices by assigning into a CSR matrix, and
    # scipy warns about that in every actor (forked after this): a note for Lava's developers,
    # noise for ours, whether the network runs through lmuneuro or as a user's own LmuNetwork
    from scipy.sparse import SparseEfficiencyWarning

    warnings.filterwarnings("ignore", category=SparseEfficiencyWarning)
    try:
        importlib.import_module(_TARGET)
        _import_message_infrastructure()
        importlib.import_module("lava.magma.core.run_configs")
    except ModuleNotFoundError as e:
        raise ImportError(
            f"Lava is not installed ({e.name} missing): run `make install` "
            "(lava-nc 0.10.0 and lava-dl 0.6.0, see constraints.txt)"
        ) from e
