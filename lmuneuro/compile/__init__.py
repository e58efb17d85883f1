"""Compiling a trained model for a chip: the model as populations and synapse groups (``graph``),
quantised, scheduled and sized to the chip's limits (``convert``, ``limits``), placed on
neuro-cores (``mapping``), or written as a NIR graph (``nirgraph``). Reads models and writes
artifacts; nothing here runs a network. Importing the package loads no torch: the command line
takes its choices from it."""

LMU_MAPPINGS = ("fir", "recurrent")  # the LMU memory as FIR taps; recurrent is refused
RESIDUALS = ("graded", "folded")  # the residual stream's terms: graded populations, or folded
