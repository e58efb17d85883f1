"""Lava processes the converted network needs and Lava does not have (``process.py``: what they
are; ``models.py``: how they run, ``fixed_pt`` bit-accurate and ``floating_pt``)."""
