"""The converted network as one Lava process (``process.py``: what it is; ``models.py``: how it
runs, as Lava's own chip processes)."""
