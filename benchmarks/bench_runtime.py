"""The Loihi 2 runtime model (``lmuneuro.analysis.runtime``) beside every public Loihi 2 timing we
know of with its network described, and the fit of the profile's two fitted constants.

    .venv/bin/python benchmarks/bench_runtime.py [--json]

Each measurement becomes the model's ``Workload`` from its published tables (neurons per core from
the mapper's per-core table, the values that cross the host boundary each step); what is not
published (spike rates, hence synaptic events and messages) is left at zero, so the model's
prediction is a lower end for those. Fitted: ``timing.dendritic_op`` on PilotNet LIF (no host
input per step: the image is the input layer's bias) and ``timing.host_value`` on PilotNet SDNN
(bound by the host's input, the notebook says), jointly, at the profile's barrier. Checked: YOLO-KP
over Ethernet. For each fitted point, the error when it is left out of the fit: its constant then
comes from the remaining points (host_value from YOLO-KP) or, where none determines it, from the
low end of its sourced range (dendritic_op: Loihi 1's).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from lmuneuro.analysis.runtime import Workload, step_times
from lmuneuro.profiles import load_profile

# lava-dl tutorials/lava/lib/dl/netx: pilotnet_snn/benchmark.ipynb (cell 15: the mapper's per-core
# table; cell 17: 408.91 inferences/s of 16 steps), pilotnet_sdnn/benchmark.ipynb (cell 15:
# 16.87 inferences/s of 1 step; cell 14: "bottlenecked by the communication of input frames"),
# yolo_kp/run_eth.ipynb (100 steps in 46.55 s on 574 cores of 13 chips)
PILOTNET_CORES = [  # (neurons per core, cores) per layer, output first
    (1, 1),
    (10, 1),
    (50, 1),
    (8, 12),
    (2048, 2),
    (2048, 3),
    (2688, 3),
    (2160, 13),
    (3072, 25),
]
PILOTNET_INPUT = (3168, 13)  # the LIF network's input layer (bias-driven); the SDNN has none
MEASURED = {
    "PilotNet LIF (74 cores, 1 chip)": {
        "us_per_step": 1e6 / (408.91 * 16),
        "cores": PILOTNET_CORES + [PILOTNET_INPUT],
        "host_values": 1,  # the read-out; the image is the input layer's bias
        "fits": "dendritic_op",
    },
    "PilotNet SDNN (61 cores, 1 chip)": {
        "us_per_step": 1e6 / 16.87,
        "cores": PILOTNET_CORES,
        "host_values": 200 * 66 * 3 + 1,  # the frame in, the read-out out
        "fits": "host_value",
    },
    "YOLO-KP over Ethernet (574 cores, 13 chips)": {
        "us_per_step": 46.55e6 / 100,
        "cores": [],  # per-core table not used: the step is the host's
        "host_values": 224 * 224 * 3,
        "fits": None,
    },
}


def workload(m: dict) -> Workload:
    neurons = np.array([n for n, c in m["cores"] for _ in range(c)] or [0], np.float64)
    zeros = np.zeros((1, len(neurons)))
    return Workload(neurons, zeros, zeros, np.zeros(1), np.zeros(1), float(m["host_values"]))


def predict(m: dict, timing: dict) -> float:
    """The model's realistic time per step (us) of measurement ``m``."""
    return float(step_times(workload(m), timing).value[0])


def fit(timing: dict, points: dict) -> dict:
    """``timing`` with dendritic_op and host_value solved from ``points`` (name -> measurement):
    each measurement's step = barrier + fullest core's neurons x dendritic_op + host values x
    host_value. A constant that no point determines keeps the low end of its range."""
    barrier = timing["barrier"].value
    rows, rhs = [], []
    for m in points.values():
        rows.append([max(n for n, _ in m["cores"]) if m["cores"] else 0, m["host_values"]])
        rhs.append(m["us_per_step"] - barrier)
    a, b = np.array(rows, np.float64), np.array(rhs)
    known = a.any(axis=0)
    solved = np.where(known, 0.0, [timing["dendritic_op"].low * 1e-3, timing["host_value"].low])
    rest = b - a[:, ~known] @ solved[~known]
    solved[known] = np.linalg.lstsq(a[:, known], rest, rcond=None)[0]
    solved[0] = max(solved[0], timing["dendritic_op"].low * 1e-3)  # a fit below the low end
    out = dict(timing)
    out["dendritic_op"] = replace(timing["dendritic_op"], value=solved[0] * 1e3)
    out["host_value"] = replace(timing["host_value"], value=solved[1])
    return out


def table() -> list[dict]:
    """Per measurement: measured and modelled us per step (the profile's constants, and the
    fit's), the lower bound, the relative errors, and for fitted points the leave-one-out error."""
    timing = load_profile("loihi2").timing
    fitted = fit(timing, {k: m for k, m in MEASURED.items() if m["fits"]})
    rows = []
    for name, m in MEASURED.items():
        measured = m["us_per_step"]
        row = {
            "measurement": name,
            "measured_us": measured,
            "model_us": predict(m, timing),
            "fit_us": predict(m, fitted),
            "lower_bound_us": float(step_times(workload(m), timing).low[0]),
            "fits": m["fits"],
        }
        if m["fits"]:
            others = {k: o for k, o in MEASURED.items() if k != name}
            row["left_out_us"] = predict(m, fit(timing, others))
        for k in ("model_us", "fit_us", "left_out_us"):
            if k in row:
                row[k.replace("_us", "_error")] = row[k] / measured - 1
        rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    rows = table()
    if ap.parse_args().json:
        print(json.dumps(rows, indent=1))
        return
    fitted = fit(load_profile("loihi2").timing, {k: m for k, m in MEASURED.items() if m["fits"]})
    print(
        f"fit: dendritic_op {fitted['dendritic_op'].value:.2f} ns, host_value "
        f"{fitted['host_value'].value:.4f} us (at barrier {fitted['barrier'].value:g} us)\n"
    )
    print(
        f"{'measurement':46s} {'measured':>11s} {'model':>11s} {'error':>7s} {'lower':>10s} "
        f"{'left out':>11s} {'error':>7s}  fits"
    )
    for r in rows:
        out = f"{r['left_out_us']:9.1f}us {r['left_out_error']:+7.1%}" if r["fits"] else " " * 19
        print(
            f"{r['measurement']:46s} {r['measured_us']:9.1f}us {r['model_us']:9.1f}us "
            f"{r['model_error']:+7.1%} {r['lower_bound_us']:8.1f}us {out}  {r['fits'] or '-'}"
        )


if __name__ == "__main__":
    main()
