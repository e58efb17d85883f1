"""Importers for checkpoints from outside lmuneuro (installed as ``lmuneuro.converters``).

Each importer module offers ``detect(obj) -> bool`` and ``load(obj, preset, what) -> Checkpoint``;
``import_checkpoint`` picks the first that recognises the file's content.
"""

from __future__ import annotations

from lmuneuro.checkpoint import CheckpointError

from . import reference

IMPORTERS = {"reference": reference}


def import_checkpoint(obj, preset=None, what="checkpoint"):
    for imp in IMPORTERS.values():
        if imp.detect(obj):
            return imp.load(obj, preset=preset, what=what)
    if isinstance(obj, dict):
        keys = [str(k) for k in list(obj)[:4]]
        raise CheckpointError(
            f"{what}: unknown checkpoint layout (not lmuneuro, not the reference "
            f"implementation); first keys: {', '.join(keys) or '(none)'}"
        )
    raise CheckpointError(
        f"{what}: unknown checkpoint layout: a {type(obj).__name__}, not a state_dict"
    )
