"""The Lava side of lmuneuro. ``compat.ensure_lava()`` runs before any Lava import."""
