"""lmuneuro: the Spiking LMUFormer from PyTorch training to Loihi 2 deployment."""

__version__ = "0.1.0"

from .checkpoint import load_checkpoint, load_model  # noqa: E402

__all__ = ["__version__", "load_checkpoint", "load_model"]
