"""The batched emulator: an artifact's network of Lava processes run on whole batches with the
arithmetic of Lava's ``fixed_pt`` models (``loihi``: lava-nc 0.10's ``PyDenseModelBitAcc``, its
Sparse, DelayDense and DelaySparse siblings, ``PyLifModelBitAcc``, ``PyLifResetModelBitAcc`` and
``PyGradedVecModelFixed``, integer for integer). Each process delivers one step plus its delay
after the spikes or payloads it reads; the outputs of the processes that feed a population add up
in its a_in; LIFReset zeroes u and v at its reset step; a GradedVec sends its a_in as it is.

Written with torch, so that the same code runs on a GPU (``device="cuda"``), bit for bit: every
value is an integer held in floating point, float32 only where a bound proves every partial sum
below 2^24 (and float32 products are not computed in reduced precision, TF32 or bf16), else
float64, exact below 2^53.

The test suite checks the arithmetic against Lava's own models on random inputs, bit for bit, and
whole networks against Lava's simulator. Each sample runs on its own for ``delay + steps`` steps
from the run's initial state: every spike it causes falls within those steps, and nothing it
leaves behind fires anything in the next (``artifact`` and ``limits`` check both from the file's
parameters, docs/artifact.md).
"""

from __future__ import annotations

import numpy as np
import torch

from ..artifact import GATE, INPUT, FixedNetwork, Layer, LifNeurons, Synapse, gate_pattern
from ..compile.limits import input_payload, payload, process_range
from ..formats import Formats
from ..loihi import LifConstants, LifStep, check_formats
from .result import RunResult, readout

__all__ = ["Emulator", "run", "torch_device"]

_EXACT32 = 2**24  # integers up to here are exact in float32


def torch_device(name: str | torch.device) -> torch.device:
    """The torch device the emulator runs on ("cpu", "cuda", "cuda:1", ...): one that exists."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device {name!r} is not a torch device (cpu, cuda, cuda:N)") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r}: torch sees no CUDA GPU here (torch {torch.__version__})"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    elif device.type != "cpu":
        raise ValueError(f"device {name!r}: the emulator runs on cpu or cuda")
    return device


def _float32_exact(device: torch.device) -> bool:
    """Whether float32 matrix products on ``device`` are IEEE float32 (not TF32 or bf16)."""
    if torch.get_float32_matmul_precision() != "highest":
        return False
    return device.type != "cuda" or not torch.backends.cuda.matmul.allow_tf32


def _blocks(syns: list[Synapse]) -> list[tuple[list[Synapse], np.ndarray, int]]:
    """The processes as column blocks of one product: (processes, weights (n_src, n_dst), exponent).
    Processes with the same target and delay whose exponents are all >= 0 but one are one block,
    ``sum_j 2^(e_j - e_min) W_j`` at e_min: exact, because only that one floors (the others' sums
    are integers and move inside its floor)."""
    groups: dict = {}
    for s in syns:
        groups.setdefault((s.dst, s.delay), []).append(s)
    out = []
    for group in groups.values():
        e_min = min(s.weight_exp for s in group)
        if len(group) > 1 and sum(s.weight_exp < 0 for s in group) <= 1:
            w = sum(
                np.asarray(s.weights, np.float64).T * 2.0 ** (s.weight_exp - e_min) for s in group
            )
            out.append((group, w, e_min))
        else:
            out += [([s], np.asarray(s.weights, np.float64).T, s.weight_exp) for s in group]
    return out


def _diagonal(s: Synapse) -> np.ndarray | None:
    """A one-to-one process's weights (n,), else None."""
    w = np.asarray(s.weights)
    if w.shape[0] != w.shape[1] or np.count_nonzero(w - np.diag(np.diag(w))):
        return None
    return np.diag(w).astype(np.float64)


class _FanOut:
    """Every process that reads one source, over the source's whole run: a_out = ``floor(s @
    (2^e W))`` per column block (``_blocks``; scaling by a power of two keeps every value exact),
    one-to-one processes as element-wise products. Each product is float32 where the largest
    |payload| (``bound_payload``) times the largest column sum of |W| stays below 2^24, else
    float64.

    A block that is its target's first delivery in the run (``first``: targets whose a_in this
    source opens) is its own product, written straight into the target's a_in; the others are one
    product, added to theirs."""

    def __init__(self, syns, bound_payload: float, device, exact32: bool, first: set[str]):
        def dtype(bound: float):
            return torch.float32 if bound_payload * bound < _EXACT32 and exact32 else torch.float64

        # (dst, delay, weights (n_src, n_dst) scaled by 2^e, or a diagonal (n_dst,), floors)
        self.direct, self.diagonals, shared, dense = [], [], [], []
        opened = set()
        for s in syns:
            d = _diagonal(s) if s.sparse else None
            if d is None:
                dense.append(s)
                continue
            w = torch.tensor(d * 2.0**s.weight_exp, dtype=dtype(np.abs(d).max()), device=device)
            self.diagonals.append((s.dst, s.delay, w, s.weight_exp < 0))
        for group, w, e in _blocks(dense):
            dst, delay = group[0].dst, group[0].delay
            if dst in first and dst not in opened:
                opened.add(dst)
                bound = np.abs(w).sum(axis=0).max()
                self.direct.append(
                    (dst, delay, torch.tensor(w * 2.0**e, dtype=dtype(bound), device=device), e < 0)
                )
            else:
                shared.append((dst, delay, w, e))
        self.shared, self.weights = [], None
        if shared:
            w = np.concatenate([b * 2.0**e for _, _, b, e in shared], axis=1)
            self.weights = torch.tensor(
                w,
                dtype=dtype(np.abs(np.concatenate([b for _, _, b, _ in shared], 1)).sum(0).max()),
                device=device,
            )
            self.floors = any(e < 0 for *_, e in shared)
            col = 0
            for dst, delay, b, _ in shared:
                self.shared.append((dst, delay, slice(col, col + b.shape[1])))
                col += b.shape[1]

    def _shared(self, sig: torch.Tensor):
        """Yields (dst, delay, a_out (steps, batch, n_dst)) of the blocks of the one product."""
        if self.weights is None:
            return
        k, batch, n_src = sig.shape
        acc = sig.reshape(-1, n_src).to(self.weights.dtype) @ self.weights
        if self.floors:
            acc.floor_()
        acc = acc.view(k, batch, -1)
        for dst, delay, cols in self.shared:
            yield dst, delay, acc[:, :, cols]

    def products(self, sig: torch.Tensor):
        """Yields (dst, delay, a_out (steps, batch, n_dst)) of the processes that are not
        ``direct``, for the source's payloads ``sig`` (steps, batch, n_src)."""
        yield from self._shared(sig)
        for dst, delay, w, floors in self.diagonals:
            part = torch.mul(sig, w)
            yield dst, delay, part.floor_() if floors else part

    def deliver(self, sig: torch.Tensor, lo: int, total: int, a_in) -> None:
        """Delivers the source's payloads ``sig`` (steps, batch, n_src) of its steps lo, lo + 1,
        ...: step T's product reaches its target at step T + 1 + delay, if within the run's
        ``total`` steps. ``a_in(dst, start, end)`` gives the target's a_in (total, batch, n) and
        whether it is new: then zero outside [start, end), and to be written there."""
        k, batch, n_src = sig.shape

        def span(delay: int) -> tuple[int, int]:
            return lo + delay + 1, min(lo + delay + 1 + k, total)

        for dst, delay, w, floors in self.direct:
            start, end = span(delay)
            if end <= start:
                continue
            a, new = a_in(dst, start, end)
            x = sig[: end - start].reshape(-1, n_src).to(w.dtype)
            if new and a.dtype == w.dtype:  # the product straight into a_in
                out = a[start:end].view(-1, w.shape[1])
                torch.mm(x, w, out=out)
                if floors:
                    out.floor_()
                continue
            part = torch.mm(x, w)
            part = (part.floor_() if floors else part).view(end - start, batch, -1)
            _put(a, new, start, end, part)
        for dst, delay, part in self._shared(sig):
            start, end = span(delay)
            if end > start:
                _put(*a_in(dst, start, end), start, end, part[: end - start])
        for dst, delay, w, floors in self.diagonals:
            start, end = span(delay)
            if end <= start:
                continue
            a, new = a_in(dst, start, end)
            x = sig[: end - start]
            if new and a.dtype == torch.result_type(x, w):  # straight into a_in
                part = torch.mul(x, w, out=a[start:end])
                if floors:
                    part.floor_()
                continue
            part = torch.mul(x, w)
            _put(a, new, start, end, part.floor_() if floors else part)


def _put(a: torch.Tensor, new: bool, start: int, end: int, part: torch.Tensor) -> None:
    """Writes part into a new a_in's steps [start, end), or adds it to an open one's."""
    if new:
        a[start:end] = part
    else:
        a[start:end] += part


class _Population:
    """One LIF population run over all steps at once, each step ``loihi.LifStep``'s (on the
    negated states: the spikes are read off the stored pre-reset states after the loop).

    ``reach`` bounds |a_in| (own processes included), and with it the work each step needs: u
    cannot wrap, nor v saturate, where the bound keeps them inside the state. With ``du`` 4095
    (Lava's keep 0: no current memory) and no processes from itself, u is ``a_in <<
    activation_shift`` at every step, computed before the loop. Values are float32 where that is
    exact (each keep 0 or a power of two, so products are exact, and every sum below 2^24), else
    float64, exact for states of 24 bits."""

    def __init__(
        self, p: LifNeurons, own: list[Synapse], reach: float, device, exact32: bool, fmt: Formats
    ):
        c = LifConstants.of(p.du, p.dv, p.vth, fmt)
        self.p, self.device, self.keep_u, self.keep_v = p, device, c.keep_u, c.keep_v
        bias = p.bias
        u_max = reach * c.act / (1 - c.keep_u)  # keep_u < 1: du >= 0
        drive_max = u_max + np.abs(bias).max(initial=0)
        v_bound = drive_max / (1 - c.keep_v) if c.keep_v < 1 else np.inf
        wraps = u_max >= c.state_max
        clamps = wraps or max(abs(p.v_init), v_bound) > c.v_max
        small = c.state_max * c.keep_v + drive_max < _EXACT32 and not wraps
        # own processes are products: float32 only where those are IEEE float32
        exact = c.exact_decays and small and (exact32 or not own)
        self.dtype = torch.float32 if exact else torch.float64
        self.step = LifStep(c, bias, self.dtype, device, wraps, clamps)
        self.own = [
            (
                s.delay + 1,
                torch.tensor(np.asarray(s.weights, np.float64).T, dtype=self.dtype, device=device),
                s.weight_exp,
            )
            for s in own
        ]

    def _silent(self, pre: torch.Tensor, steps: int) -> tuple[int, int]:
        """(lo, hi): outside [lo, hi) the layer provably does not fire. Decay truncates toward
        zero, so ``max(v_t, 0) <= keep_v max(v_t-1, 0) + max(u_t + bias, 0)``: before its window
        v stays below ``max(v_init, 0) + max drive / (1 - keep_v)`` (and the reset at lag forgets
        it), after it (from v <= vth) below vth while the drive stays under ``(1 - keep_v) vth``.
        ``pre`` holds -(u + bias); the gate's inhibition usually makes both hold."""
        total, lag, keep = len(pre), self.p.lag, self.keep_v
        if lag is None or keep >= 1:
            return 0, total
        th, end = -(self.step.below + 1), lag + steps

        def drive(part: torch.Tensor) -> float:
            return max(float(-part.min()), 0.0) if len(part) else 0.0

        lo = lag if max(self.p.v_init, 0) + drive(pre[:lag]) / (1 - keep) <= th else 0
        hi = end if drive(pre[end:]) <= (1 - keep) * th else total
        return lo, hi

    def __call__(self, a: torch.Tensor, steps: int) -> torch.Tensor:
        """Spikes (total, batch, n), 0 or 1 in float32, from a_in (total, batch, n) of the other
        processes (consumed: its memory holds the states) over samples of ``steps`` frames."""
        total, batch, n = a.shape
        lag, step = self.p.lag, self.step
        w = torch.full((batch, n), -float(self.p.v_init), dtype=self.dtype, device=self.device)
        # every step's input in a's place where it can; each step's -v before its reset
        # replaces it in place
        pre = a if a.dtype == self.dtype else a.to(self.dtype)
        if not self.own and self.keep_u == 0 and not step.wraps:
            step.drives_(pre)  # -(u + bias)
            lo, hi = self._silent(pre, steps)
            rows = pre.unbind(0)
            for t in range(lo, hi):
                if t == lag:
                    w.zero_()
                step.charge_v(w, rows[t])
            pre[:lo].zero_(), pre[hi:].zero_()  # 0 > below: no spike
            return step.fired_(pre).to(torch.float32)
        step.inputs_(pre)  # -(a_in << activation_shift)
        nu = torch.zeros_like(w)  # -u
        for t, pre_t in enumerate(pre.unbind(0)):
            if t == lag:
                nu.zero_(), w.zero_()
            for delay, weights, exp in self.own:
                if t >= delay:
                    spikes = step.fired(pre[t - delay])
                    pre_t.sub_(torch.mm(spikes, weights).mul_(2.0**exp).floor_(), alpha=step.act)
            nu = step(nu, w, pre_t)
        return step.fired_(pre).to(torch.float32)


class Emulator:
    """An artifact's network compiled for one device: its weights as tensors there, the order of
    its populations and the number format of each product. Call it on batches of features."""

    def __init__(self, net: FixedNetwork, device: str | torch.device = "cpu"):
        check_formats(net.formats)
        self.net, self.device = net, torch_device(device)
        self.sizes = {p.name: p.size for p in net.populations}
        exact32 = _float32_exact(self.device)
        readers: dict[str, list[Synapse]] = {}
        reach = {p.name: 0.0 for p in net.populations}  # the largest |a_in| of each population
        for syn in net.synapses:
            if syn.src != syn.dst:  # a relay line's own processes run inside its time loop
                readers.setdefault(syn.src, []).append(syn)
            lo, hi = process_range(net, syn)
            reach[syn.dst] += max(-lo.min(), hi.max())
        # a_in, filled by the sources: float32 holds it exactly where the chip's 16-bit limits hold
        self.a_dtype = {
            name: torch.float32 if r < _EXACT32 and exact32 else torch.float64
            for name, r in reach.items()
        }

        def largest(src: str) -> float:
            if src == INPUT:
                return float(np.max(input_payload(net.input_size, net.input_max)))
            pay = payload(net, src)
            return 1.0 if pay is None else float(max(-pay[0].min(), pay[1].max()))

        # the run opens each target's a_in with the first dense delivery in this order (the
        # gate's come last): that product goes straight into it
        order = [INPUT] + [p.name for p in net.populations]
        opens: dict[str, set[str]] = {}
        for src in order:
            for syn in readers.get(src, []):
                if not any(syn.dst in o for o in opens.values()):
                    opens.setdefault(src, set()).add(syn.dst)
        self.fan_out = {
            src: _FanOut(syns, largest(src), self.device, exact32, opens.get(src, set()))
            for src, syns in readers.items()
        }
        self.populations = [
            _Population(
                p,
                [s for s in net.inputs_of(p.name) if s.src == p.name],
                reach[p.name],
                self.device,
                exact32,
                net.formats,
            )
            if isinstance(p, LifNeurons)
            else None  # a term: its a_in is its payload
            for p in net.populations
        ]

    def __call__(
        self, x: np.ndarray, record: bool = False, layer_inputs: dict | None = None
    ) -> RunResult:
        """Run the network on real-valued features x (batch, steps, input_size), all samples at
        once. Populations in the artifact's order (sources first): each one's LIF over the steps,
        then the processes that read it for the whole run at once (``_FanOut``). ``layer_inputs``: a
        dict to fill with every layer's a_in in its window, (batch, steps, n) float64 (calibration
        compares it with the float model's input)."""
        net, dev = self.net, self.device
        q, clipped = net.quantize_input(torch.as_tensor(np.asarray(x), device=dev))  # x's precision
        batch, steps = q.shape[:2]
        total = net.delay + steps
        pattern = gate_pattern(net.gate_channels, steps, total).T  # (total, channels)
        gate_steps = np.flatnonzero(pattern.any(axis=1))  # the gate is silent at most steps
        sig = {  # payloads below 2^16: exact in float32
            INPUT: q.transpose(0, 1).to(torch.float32),
            GATE: torch.tensor(pattern[gate_steps][:, None, :], device=dev).to(torch.float32),
        }
        pending: dict[str, torch.Tensor] = {}
        gated: dict[str, list] = {}  # the gate's deliveries, added last: (steps, a_out)

        def a_in(dst: str, start: int, end: int) -> tuple[torch.Tensor, bool]:
            a = pending.get(dst)
            if a is not None:
                return a, False
            a = pending[dst] = torch.empty(
                (total, batch, self.sizes[dst]), dtype=self.a_dtype[dst], device=dev
            )
            a[:start].zero_(), a[end:].zero_()
            return a, True

        def emit(src: str, lo: int = 0, hi: int = total) -> None:
            """Delivers src's processes over its steps [lo, hi) (it is silent at the others)."""
            fan = self.fan_out.get(src)
            if fan is not None:
                fan.deliver(sig[src][lo:hi], lo, total, a_in)

        if GATE in self.fan_out:  # silent at most steps: its deliveries are added last, where due
            for dst, delay, part in self.fan_out[GATE].products(sig[GATE]):
                at = gate_steps + delay + 1
                keep = (at < total) & (part.abs().amax(dim=(1, 2)) > 0).cpu().numpy()
                gated.setdefault(dst, []).append((at[keep], part[torch.from_numpy(keep).to(dev)]))
        emit(INPUT, 0, steps)
        counts, per_step = {}, {}  # spikes, or a graded population's non-zero payloads
        for p, lif in zip(net.populations, self.populations):
            a = pending.pop(p.name, None)
            if a is None:  # no process but the gate's reads into it
                a = torch.zeros((total, batch, p.size), dtype=self.a_dtype[p.name], device=dev)
            for at, part in gated.pop(p.name, []):
                at = torch.from_numpy(at).to(dev)
                a.index_add_(0, at, part.expand(-1, batch, -1).to(a.dtype))
            if layer_inputs is not None and isinstance(p, Layer):  # before its LIF consumes it
                layer_inputs[p.name] = (
                    a[p.lag : p.lag + steps].transpose(0, 1).double().cpu().numpy()
                )
            out = sig[p.name] = a if lif is None else lif(a, steps)
            counts[p.name] = torch.count_nonzero(out, dim=0) if lif is None else out.sum(dim=0)
            per_step[p.name] = torch.count_nonzero(out, dim=2).T
            # a layer or term is mostly silent outside its window [lag, lag + steps): skip what is
            lo = p.lag if p.lag and not out[: p.lag].any() else 0
            hi = p.lag + steps if p.lag is not None and not out[p.lag + steps :].any() else total
            emit(p.name, lo, hi)
        counts, per_step = (
            {k: c.cpu().numpy().astype(np.int64) for k, c in d.items()} for d in (counts, per_step)
        )
        head = net.population(net.readout)
        head_spikes = sig[head.name][head.lag : head.lag + steps].transpose(0, 1)
        logits, per_step_logits = readout(net, head_spikes.to(torch.uint8).cpu().numpy())
        spikes = (
            {
                p.name: (sig[p.name][p.lag : p.lag + steps].transpose(0, 1) > 0).cpu().numpy()
                for p in net.layers
            }
            if record
            else {}
        )
        return RunResult(
            logits, per_step_logits, spikes, counts, per_step, q.cpu().numpy(), clipped
        )


def run(
    net: FixedNetwork, x: np.ndarray, record: bool = False, device: str | torch.device = "cpu"
) -> RunResult:
    """Run ``net`` on real-valued features x (batch, steps, input_size) (``Emulator``)."""
    return Emulator(net, device)(x, record)


def _deliver(s: Synapse, sig: np.ndarray) -> np.ndarray:
    """One process's a_out at every step, (total, batch, n_dst), from its source's payloads at
    every step (total, batch, n_src): the product ``Emulator`` computes for it."""
    total = len(sig)
    out = torch.zeros(sig.shape[:2] + (s.weights.shape[0],), dtype=torch.float64)
    bound = float(np.abs(sig).max()) if sig.size else 0.0
    fan = _FanOut([s], bound, torch.device("cpu"), True, set())
    fan.deliver(torch.from_numpy(np.asarray(sig, np.float64)), 0, total, lambda *_: (out, False))
    return out.numpy()
