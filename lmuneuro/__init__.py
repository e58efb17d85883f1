"""lmuneuro: the Spiking LMUFormer from PyTorch training to Loihi 2 deployment."""

from .version import __version__

__all__ = [
    "__version__",
    "load_checkpoint",
    "load_model",
    "convert",
    "choose_weight_sets",
    "verify",
    "run",
    "energy",
    "benchmark",
    "stream",
]

# the verbs of the command line, each where it lives; loaded on first use, so that torch loads
# only when a verb needs it and `lmuneuro --help` answers at once
_FACE = {
    "load_checkpoint": "checkpoint",
    "load_model": "checkpoint",
    "convert": "compile.convert",
    "choose_weight_sets": "analysis.calibration",
    "verify": "analysis.verify",
    "run": "running",
    "energy": "running",
    "benchmark": "analysis.neurobench",
    "stream": "spotting",
}


def __getattr__(name: str):
    if name in _FACE:
        from importlib import import_module

        return getattr(import_module(f".{_FACE[name]}", __name__), name)
    raise AttributeError(f"module 'lmuneuro' has no attribute {name!r}")
