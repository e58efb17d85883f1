"""Compiling a trained model for a chip: the model as populations and synapse groups (``graph``),
scheduled (``schedule``: lags, delays, relays), quantised and sized to the chip's limits
(``quantize``, ``limits``), placed on neuro-cores (``mapping``), chained into an artifact by
``convert``, or written as a NIR graph (``nirgraph``). Reads models and writes
artifacts; nothing here runs a network. Importing the package loads no torch: the command line
takes its choices from it."""

LMU_MAPPINGS = ("fir", "recurrent")  # the LMU memory as FIR taps; recurrent is refused
RESIDUALS = ("graded", "folded")  # the residual stream's terms: graded populations, or folded


class ConversionError(ValueError):
    """A model that cannot be converted for the target; one line naming the layer and the limit."""
