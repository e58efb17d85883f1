"""What runs of an artifact tell: activity counted from spikes (``activity``), float against
fixed point (``verify``), energy priced under a profile (``energy``) and drawn as a table or page
(``rendering``), an artifact's processes and limits (``inspection``), and weight sets chosen by
measured fidelity (``calibration``)."""
