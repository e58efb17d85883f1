"""The terminal tables of ``lmuneuro presets``, ``convert``, ``verify``, ``run`` and ``inspect``:
each a report's figures, formatted; the command line prints them."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the reports' modules load torch
    from ...compile.calibrate import Calibration
    from ...compile.convert import ConversionReport
    from ..inspection import InspectReport
    from ..verify import VerifyReport


def format_presets(rows: list[dict]) -> str:
    """The presets (``{"preset", "parameters", **ModelConfig.to_dict()}`` each) as a table."""
    w = max(len(r["preset"]) for r in rows)
    lines = [
        f"{'preset':{w}s} {'params':>10s}  spiking  dim  depth  memory  theta  steps  in  classes"
    ]
    for r in rows:
        lines.append(
            f"{r['preset']:{w}s} {r['parameters']:>10,d}  {str(r['spiking']):7s} {r['dim']:4d} "
            f"{r['depth']:6d} "
            f"{r['memory_size']:7d} {r['theta']:6g} {r['seq_len']:6d} {r['in_features']:3d} "
            f"{r['num_classes']:8d}"
        )
    return "\n".join(lines)


def clipped_line(n: int) -> list[str]:
    """The line that says how many input values were clipped; none where none were."""
    if not n:
        return []
    return [
        f"inputs: {n:,} values beyond the artifact's input range were clipped (convert "
        "--input-range sets it, or --calibrate from data)"
    ]


def _population_lines(layers: list[dict], chips: bool) -> list[str]:
    """Per population (``limits.resources``' rows): class, neurons, synapses, processes, cores;
    with ``chips`` also chips, lag, threshold and weight error (the conversion's table)."""
    head = (
        f"{'population':30s} {'class':8s} {'neurons':>8s} {'synapses':>10s} {'procs':>5s} "
        f"{'cores':>5s}"
    )
    if not chips:
        lines = [head]
        for row in layers:
            lines.append(
                f"{row['layer']:30s} {row['class']:8s} {row['neurons']:8d} {row['synapses']:10,d} "
                f"{row['processes']:5d} "
                f"{row['cores']:5d}"
            )
        return lines
    lines = [head + f" {'chips':>5s} {'lag':>4s} {'vth':>5s} {'weight err':>10s}"]
    for row in layers:
        lag = "" if row["lag"] is None else str(row["lag"])
        lines.append(
            f"{row['layer']:30s} {row['class']:8s} {row['neurons']:8d} {row['synapses']:10,d} "
            f"{row['processes']:5d} {row['cores']:5d} {len(row['chips']):5d} {lag:>4s} "
            f"{row['vth_mant']:5d} "
            f"{row['weight_error']:10.2%}"
        )
    return lines


def format_conversion(r: ConversionReport) -> str:
    """What ``lmuneuro convert`` prints: the populations, what was written where, the weight sets
    chosen on data and the calibration (where measured), the artifact's SHA-256."""
    lines = _population_lines(r.layers, chips=True)
    kinds = Counter(row["class"] for row in r.layers)
    use = ", ".join(f"chip {u.chip} {u.cores} cores ({u.fraction:.0%})" for u in r.chip_use)
    lines.append(
        f"wrote {r.output}: {kinds['LIFReset']} LIF layers, {kinds['LIF']} relay population(s) "
        f"and {kinds['GradedVec']} residual term(s) as "
        f"{r.processes} Lava processes (the table's and the gate's source) on {r.cores} "
        f"neuro-cores of {r.chips} "
        f"{r.meta['target']} chip(s) ({use}), algorithmic delay {r.delay_steps} steps"
    )
    choice = r.weight_set_choice
    if choice:
        two, chosen = choice.two_sets, choice.chosen
        lines.append(
            f"weight sets: one set into {len(choice.single_set)} of the {choice.candidates} "
            f"layers that had two ({chosen.synapses:,d} synapses, {two.synapses:,d} with two "
            f"sets everywhere): logit error {chosen.error:.4f} against {two.error:.4f}, "
            f"bound {choice.bound:.4f}, on {choice.samples} calibration samples "
            f"({choice.trials} conversions measured)"
        )
    if r.calibration:
        lines += _calibration_lines(r.calibration)
    lines.append(f"SHA-256 {r.sha256} (pin it with --expect-sha256 where the artifact is used)")
    return "\n".join(lines)


def _calibration_lines(c: Calibration) -> list[str]:
    """What ``convert --calibrate`` chose, and each layer's spike mismatch on the calibration
    samples without calibration and with it."""
    tried = ", ".join(
        f"{t.input_range:.4g} with {t.frac_bits} bits {t.mismatch:.3%}" for t in c.candidates
    )
    lines = [
        f"calibration on {c.samples} samples: input range {c.input_range:.4g} (without "
        f"calibration {c.uncalibrated_input_range:.4g}; {c.clipped:,} of {c.values:,} "
        f"calibration values beyond it are clipped; first-layer mismatch per input range and "
        "fraction bits tried: "
        f"{tried}); bias correction "
        + ("applied" if c.bias_corrected else "not kept (it did not lower the mismatch)"),
        f"{'layer':30s} {'mismatch without':>16s} {'with calibration':>16s} {'bias shift':>10s}",
    ]
    for row in c.layers:
        lines.append(
            f"{row.layer:30s} {row.mismatch_before:16.3%} {row.mismatch_after:16.3%} "
            f"{row.bias_shift:10.2%}"
        )
    return lines


def _verify_layer_lines(r: VerifyReport) -> list[str]:
    lines = [
        f"{'population':30s} {'rate float':>10s} {'rate fixed':>10s} {'mismatch':>9s} "
        f"{'weight err':>10s} {'SynOps float':>12s} {'SynOps fixed':>12s}"
    ]
    for row in r.layers:
        spikes = (
            f"{row.rate_float:10.4f} {row.rate_fixed:10.4f} {row.mismatch:9.2%}"
            if row.mismatch is not None
            else f"{'(relay)' if row.lava_class == 'LIF' else '(residual term)':>31s}"
        )
        lines.append(
            f"{row.layer:30s} {spikes} {row.weight_error:10.2%} {row.synops_float:12,.0f} "
            f"{row.synops_fixed:12,.0f}"
        )
    return lines


def format_verify(r: VerifyReport) -> str:
    """What ``lmuneuro verify`` prints: per population the spike rates of both and their
    mismatch, then agreement, accuracy, calibration, operations and the first divergence."""
    lines = _verify_layer_lines(r)
    line = f"{r.samples} samples: top-1 agreement float vs fixed {r.agreement:.2%}"
    if r.accuracy_float is not None:
        line += f"; accuracy float {r.accuracy_float:.2%}, fixed {r.accuracy_fixed:.2%}"
    lines.append(line)
    u = r.uncalibrated
    if u is not None:
        per_layer = ", ".join(
            f"{a.layer} {a.mismatch:.2%} -> {b.mismatch:.2%}"
            for a, b in zip(u.layers, r.layers)
            if a.mismatch is not None
        )
        lines.append(
            f"calibration: without it on the same inputs, agreement {u.agreement:.2%}"
            + (f", accuracy fixed {u.accuracy_fixed:.2%}" if u.accuracy_fixed is not None else "")
            + f"; spike mismatch per layer without -> with: {per_layer}"
        )
    ops = r.operations
    ratio = ops.chip_per_model_synop
    lines.append(
        f"operations per sample: the model {ops.model_synops:,.0f} SynOps (the paper's "
        f"convention) + {ops.model_graded_macs:,.0f} MACs on the graded input; the chip "
        f"{ops.chip_synaptic_events:,.0f} spike-driven synaptic events"
        + (f" ({ratio:.2f} x the model's)" if ratio is not None else "")
        + f" + {ops.chip_graded_events:,.0f} graded"
    )
    if r.quantization_aware is not None:
        qa = r.quantization_aware
        lines.append(
            f"quantisation-aware checkpoint: its own forward pass vs fixed: top-1 agreement "
            f"{qa.agreement:.2%}, logits bit-identical for {qa.logits_identical:.2%} of samples"
        )
    lines += clipped_line(r.inputs_clipped)
    fd = r.first_divergence
    lines.append(
        "spikes identical in every layer"
        if fd is None
        else f"first divergence: {fd.layer}, sample {fd.sample}, step {fd.step}, neuron {fd.neuron}"
    )
    return "\n".join(lines)


def format_run(r) -> str:
    """What ``lmuneuro run`` prints of a ``running.RunReport``: speed and accuracy, the streaming
    read-out, clipping."""
    line = f"{r.backend}: {r.samples} samples in {r.seconds:.2f} s ({r.samples_per_second:.1f}/s)"
    lines = [line + (f", accuracy {r.accuracy:.2%}" if r.accuracy is not None else "")]
    for p in r.per_step or []:
        acc = f"accuracy {p.accuracy:.2%}, " if p.accuracy is not None else ""
        lines.append(
            f"  after {p.steps_seen:4d} steps ({p.fraction:4.0%}): {acc}same as final "
            f"{p.agreement_with_final:.2%}"
        )
    return "\n".join(lines + clipped_line(r.inputs_clipped))


def format_inspect(r: InspectReport, name: str) -> str:
    """What ``lmuneuro inspect`` prints of the artifact ``name``: its Lava processes, neuro-cores
    per population, delays and exponents, and the tightest place of each limit."""
    lines = [f"{name}: {sum(p.count for p in r.processes)} Lava processes"]
    lines += [f"  {p.count:5d}  {p.module}.{p.lava_class}" for p in r.processes]
    lines += _population_lines(r.layers, chips=False)
    d = r.largest_delay
    lines.append(
        f"neuro-cores {r.cores} on {r.chips} {r.profile} chip(s); largest synaptic "
        f"delay {d.steps} "
        f"steps ({d.process}); "
        f"weight exponents {r.weight_exp_range[0]} to {r.weight_exp_range[1]}; "
        f"algorithmic delay {r.algorithmic_delay} steps"
    )
    lines.append("limits (the tightest place of each):")
    for v in r.tightest:
        lines.append(f"  {'ok  ' if v.ok else 'FAIL'} {v.text}, margin {v.margin:,.0f}")
    return "\n".join(lines)
