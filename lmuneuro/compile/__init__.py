"""Compiling a trained model for a chip: the model as populations and synapse groups (``graph``),
quantised, scheduled and sized to the chip's limits (``convert``, ``limits``), placed on
neuro-cores (``mapping``), or written as a NIR graph (``nirgraph``). Reads models and writes
artifacts; nothing here runs a network."""
