"""Importers of checkpoints from outside lmuneuro (installed as ``lmuneuro.converters``).

Each importer module offers ``detect(obj) -> bool`` and ``load(obj, preset, what) -> Checkpoint``
and is registered as an entry point of the group ``lmuneuro.importers`` (pyproject.toml);
``checkpoint.load_checkpoint`` tries them in name order. Another package can add its own the same
way.
"""
