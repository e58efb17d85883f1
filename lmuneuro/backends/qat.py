"""Quantisation-aware fine-tuning: a model whose forward pass is what the chip computes.

``ChipModel(model, features, settings)`` returns, for features x, the logits of the network that
``convert`` makes of the model's *current* weights with ``settings``, as the emulator computes
them: float64, bit-identical to ``lmuneuro run --backend emulator`` on the artifact. Each forward
pass

1. compiles the weights (``convert.compile_model``, the converter's own path: BatchNorm folded,
   mantissas, exponents and weight sets, the graded input's format, the LMU memory's taps, every
   layer's threshold and decays);
2. runs that network on the emulator (Loihi's LIF in fixed point, the decay's rounding, the state
   and input limits) and records every layer's spikes;
3. runs the float model with every LIF population forced to output the chip's spikes
   (``model.forcing``): each layer's float input is computed from its sources' chip spikes, and
   its surrogate gradient is taken at that input.

The logits are the chip's in the forward pass and the float head's in the backward pass: the
gradient passes straight through the rounding of weights, inputs and states (the straight-through
estimator), evaluated where the chip's network actually is rather than where the float model would
be. The checkpoint a fine-tuning writes records ``settings``; ``convert`` uses them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..compile.convert import Settings, compile_model
from ..models.lif import substitute
from .emulator import run

__all__ = ["ChipModel"]


class ChipModel(nn.Module):
    """A spiking LMUFormer computed as its converted network (module docstring). The wrapped
    ``model`` stays in eval mode (BatchNorm's running statistics are what the converter folds);
    its parameters are this module's. Construction compiles once and checks that the network fits
    the target: ``convert.ConversionError`` otherwise."""

    def __init__(self, model: nn.Module, features: dict | None, settings: Settings):
        super().__init__()
        self.model = model.eval()
        self.features = features
        compiled = compile_model(model, features, settings)
        self.settings = compiled.settings  # input range resolved: the record convert reads
        self._net, self._key = compiled.net, self._version()

    def train(self, mode: bool = True):
        self.training = mode
        self.model.eval()
        return self

    def _version(self) -> tuple:
        # every in-place update of a parameter or buffer, an optimizer's step included, bumps it
        return tuple((id(t), t._version) for t in self.model.state_dict(keep_vars=True).values())

    def network(self):
        """The ``FixedNetwork`` of the current weights, compiled again only when they changed."""
        if self._version() != self._key:
            self._net = compile_model(self.model, self.features, self.settings, fit=False).net
            self._key = self._version()
        return self._net

    def check_fit(self) -> None:
        """``ConversionError`` if the current weights no longer fit the target (the network it
        compiles serves the next forward pass)."""
        self._net = compile_model(self.model, self.features, self.settings).net
        self._key = self._version()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, time, features) -> logits (batch, classes) float64, the chip's."""
        with torch.no_grad():
            net = self.network()
        res = run(net, x.detach().cpu().numpy(), record=torch.is_grad_enabled())
        chip = torch.from_numpy(np.asarray(res.logits, np.float64)).to(x.device)
        if not torch.is_grad_enabled():
            return chip
        spikes = {n: torch.from_numpy(s).to(x.device, x.dtype) for n, s in res.spikes.items()}
        with self.model.forcing(spikes):
            logits = self.model(x)
        return substitute(logits, chip)
