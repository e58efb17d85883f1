"""The deployment artifact: the contract between the converter and the backends (docs/artifact.md).

network.py    the fixed-point network, one entry per Lava process (``FixedNetwork``)
validation.py its consistency with Lava's processes and the number formats (``validate``)
writing.py    the HDF5 file written whole, with its checksum (``write_artifact``)
reading.py    the file's layout checked, the network read back and validated (``read_artifact``)
"""

from .network import (
    GATE,
    GATE_KINDS,
    INPUT,
    FixedNetwork,
    Layer,
    LifNeurons,
    ModelOps,
    Neurons,
    Relay,
    Synapse,
    Term,
    gate_pattern,
)
from .reading import read_artifact
from .validation import ArtifactError, validate
from .writing import write_artifact

__all__ = [
    "Neurons",
    "LifNeurons",
    "Layer",
    "Relay",
    "Term",
    "Synapse",
    "FixedNetwork",
    "INPUT",
    "GATE",
    "GATE_KINDS",
    "gate_pattern",
    "ArtifactError",
    "ModelOps",
    "write_artifact",
    "read_artifact",
    "validate",
]
