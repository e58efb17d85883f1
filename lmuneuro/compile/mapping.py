"""Where a network's populations go on a board: neuro-cores per population and the chips they
fill, by a model of Intel's Loihi 2 mapper calibrated on its own output.

A population's neurons are spread evenly over cores; every core holds the synapses into its
neurons. Synapse memory (``SynMem``) per core, in words of ``synmem_word_bits``, is for each input
axon ``ceil((n * b + H) / word)``: n the core's neurons that the axon reaches (all of them for a
dense process, the non-zero weights for a sparse one), ``b = weight bits (7 counted as 8) +
synapse_overhead_bits (+ delay_bits for a delayed process)`` and ``H = axon_header_bits``. Like
Intel's mapper, a population that does not fit one core is split by the ratio by which it
overflows the budget (``synmem_words_per_core``, ``neurons_per_core``), and split again until it
fits. Populations then fill the chips in order, ``cores_per_chip`` each. What the network stores
(``stored_bytes``): every core's synapse memory as its population's fullest core, and each neuron's
state, u and v of the artifact's ``state_bits`` each.

Calibration (``tests/fixtures/pilotnet_lif_dense_mapping.json``): the formula reproduces the
synapse memory that Intel's compiler reports for the dense layers of lava-dl's PilotNet LIF
network (61,440, 1,300, 150 and 10 words on one core), and the split its core counts (12, 1, 1,
1). The delay bits and the sparse encoding are assumptions: no public mapper output has them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..artifact import GATE, INPUT, FixedNetwork, Synapse

__all__ = [
    "Group",
    "synapse_bits",
    "synmem_words",
    "split",
    "groups_of",
    "Placement",
    "place",
    "stored_bytes",
]


@dataclass(frozen=True)
class Group:
    """The input axons of a population that one synapse process brings: ``axons`` axons of
    ``bits`` per synapse; ``reach`` (axons,) the neurons each reaches, or None: all (dense)."""

    axons: int
    bits: int
    reach: np.ndarray | None = None


def synapse_bits(res: dict, weight_bits: int, delayed: bool = False) -> int:
    """Bits of synapse memory per synapse (the mapper rounds 7-bit weights up to 8)."""
    bits = 8 if weight_bits == 7 else weight_bits
    return bits + res["synapse_overhead_bits"] + (res["delay_bits"] if delayed else 0)


def synmem_words(groups: list[Group], n: int, size: int, res: dict) -> int:
    """Synapse-memory words of a core holding ``n`` of a population's ``size`` neurons."""
    word, header = res["synmem_word_bits"], res["axon_header_bits"]
    total = 0
    for g in groups:
        if g.reach is None:
            total += g.axons * -(-(n * g.bits + header) // word)
        else:  # a sparse process: each axon's synapses spread evenly over the cores
            k = np.ceil(g.reach[g.reach > 0] * (n / size))
            total += int(np.ceil((k * g.bits + header) / word).sum())
    return int(total)


def split(groups: list[Group], size: int, res: dict) -> tuple[int, int, int]:
    """(cores, neurons per core, synapse-memory words per core) of one population, split as
    Intel's mapper does: by the ratio of the overflow, until every core fits (or one neuron per
    core still does not: then the words exceed the budget, and ``limits`` says so)."""
    cores = 1
    while True:
        n = -(-size // cores)
        words = synmem_words(groups, n, size, res)
        ratio = max(-(-words // res["synmem_words_per_core"]), -(-n // res["neurons_per_core"]))
        if ratio <= 1 or n == 1:
            return cores, n, words
        cores = min(cores * ratio, size)


def groups_of(net: FixedNetwork, syns: list[Synapse], res: dict) -> list[Group]:
    """The axon groups that the processes ``syns`` bring to their target."""
    bits = net.formats.weight_bits
    sizes = {INPUT: net.input_channels, GATE: len(net.gate_channels)}
    sizes |= {p.name: p.size for p in net.populations}
    return [
        Group(
            sizes[s.src],
            synapse_bits(res, bits, s.delay > 0),
            np.count_nonzero(s.weights, axis=0) if s.sparse else None,
        )
        for s in syns
    ]


@dataclass(frozen=True)
class Placement:
    """One population on the board."""

    population: str
    cores: int
    neurons_per_core: int
    synmem_words: int  # per core (its fullest)
    chips: tuple[int, ...]  # the chips its cores are on
    first_core: int  # its first core's index on the board, cores numbered chip after chip


def place(net: FixedNetwork, res: dict) -> list[Placement]:
    """Every population's cores, in the artifact's order, filling the chips one after another."""
    out, cursor, per_chip = [], 0, res["cores_per_chip"]
    for p in net.populations:
        cores, n, words = split(groups_of(net, net.inputs_of(p.name), res), p.size, res)
        chips = tuple(range(cursor // per_chip, (cursor + cores - 1) // per_chip + 1))
        out.append(Placement(p.name, cores, n, words, chips, cursor))
        cursor += cores
    return out


def interchip_copies(src: Placement, dst: Placement, per_chip: int) -> float:
    """Messages that one spike of ``src`` (spikes spread evenly over its cores) sends to the
    cores of ``dst`` on other chips: one per destination core, as Loihi's axons address one core
    each (no multicast)."""
    chips = (max(p.first_core + p.cores for p in (src, dst)) - 1) // per_chip + 1

    def on_chip(p: Placement) -> np.ndarray:  # its cores on each chip
        return np.bincount(np.arange(p.first_core, p.first_core + p.cores) // per_chip, None, chips)

    a, b = on_chip(src), on_chip(dst)
    return float(a @ (dst.cores - b)) / src.cores


def stored_bytes(net: FixedNetwork, res: dict) -> dict:
    """Bytes that ``net`` keeps on the chips as placed (``place``): the synapse memory of every core
    (each as its population's fullest) and the neurons' state (u and v, ``state_bits`` each)."""
    words = sum(p.cores * p.synmem_words for p in place(net, res))
    synmem = -(-words * res["synmem_word_bits"] // 8)
    state = -(-sum(p.size for p in net.populations) * 2 * net.formats.state_bits // 8)
    return {"synapse_memory": synmem, "neuron_state": state, "total": synmem + state}
