"""What runs of an artifact tell: activity counted from spikes (``activity``), float against
fixed point (``verify``), energy priced under a profile (``energy``), an artifact's processes
and limits (``inspection``), and weight sets chosen by measured fidelity (``calibration``); every
report drawn as a terminal table or an HTML page (``rendering``)."""
