"""lmuneuro: the Spiking LMUFormer from PyTorch training to Loihi 2 deployment."""

from .version import __version__

__all__ = ["__version__", "load_checkpoint", "load_model", "run"]


def __getattr__(name: str):
    # torch loads only when a checkpoint does: `lmuneuro --help` answers at once
    if name in ("load_checkpoint", "load_model"):
        from . import checkpoint

        return getattr(checkpoint, name)
    if name == "run":
        from .running import run

        return run
    raise AttributeError(f"module 'lmuneuro' has no attribute {name!r}")
