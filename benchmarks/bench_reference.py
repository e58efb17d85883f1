"""lmuneuro's models against the paper's own implementation, side by side in one process.

The reference code is not part of lmuneuro: fetch it and spikingjelly yourself, outside the repo,
    git clone https://github.com/zeyuliu1037/LMUFormer /tmp/LMUFormer
    .venv/bin/pip install --no-deps --target /tmp/ref-site spikingjelly==0.0.0.0.14
then
    .venv/bin/python benchmarks/bench_reference.py --reference-src /tmp/LMUFormer/src --site
    /tmp/ref-site

Both models get the same weights (ours, saved in the reference's layout and loaded by its code);
the table shows eval-forward and training-step times at batch 32 x 128 frames x 128 mel bins on
the given threads, and whether the outputs are identical. The reference runs spikingjelly's
torch backend (its cupy backend is GPU-only). timm is replaced by the four names the reference
takes from it (a registry, trunc_normal_, to_2tuple, an unused DropPath): the real timm imports
torchvision, which does not load beside the CPU build of torch.
"""

from __future__ import annotations

import argparse
import sys
import types

import torch
import torch.nn.functional as F
from common import median_time, train_step

from lmuneuro.converters.reference import to_reference_state_dict
from lmuneuro.models import build_model, get_preset

REFERENCE_NAMES = {
    "spiking-lmuformer-scv2": "slmu_rnn_ms_conv1d",
    "lmuformer-scv2": "lmu_rnn_conv1d",
}


def _timm_stand_in():
    registry: dict = {}

    def register_model(fn):
        registry[fn.__name__] = fn
        return fn

    class DropPath(torch.nn.Identity):
        def __init__(self, *args, **kwargs):
            super().__init__()

    mods = {
        name: types.ModuleType(name)
        for name in (
            "timm",
            "timm.models",
            "timm.models.layers",
            "timm.models.registry",
            "timm.models.vision_transformer",
        )
    }
    mods["timm.models"].create_model = lambda name, **kw: registry[name](**kw)
    mods["timm.models.layers"].__dict__.update(
        to_2tuple=lambda x: (x, x), trunc_normal_=torch.nn.init.trunc_normal_, DropPath=DropPath
    )
    mods["timm.models.registry"].register_model = register_model
    mods["timm.models.vision_transformer"]._cfg = lambda **kw: kw
    sys.modules.update(mods)


def load_reference(src: str, site: str | None):
    _timm_stand_in()
    sys.path[:0] = [p for p in (site, src) if p]
    import utilities  # the reference's package
    from spikingjelly.clock_driven import functional
    from spikingjelly.clock_driven.neuron import MultiStepLIFNode

    def get_act(act_type="spike", **params):
        if act_type == "spike":
            return MultiStepLIFNode(**params, backend="torch")
        return {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "identity": torch.nn.Identity}[
            act_type
        ]()

    utilities.get_act = get_act  # before its blocks import it by name
    import lmu_rnn  # noqa: F401  (registers the reference models)

    def build(preset: str):
        return sys.modules["timm.models"].create_model(
            REFERENCE_NAMES[preset],
            num_classes=35,
            img_size_h=128,
            img_size_w=128,
            patch_size=16,
            embed_dims=256,
            num_heads=16,
            mlp_ratios=4,
            in_channels=128,
            qkv_bias=False,
            depths=1,
            sr_ratios=1,
            T=1,
            test_mode="normal",
        )

    return build, functional.reset_net


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reference-src", required=True, help="the reference repository's src/ folder")
    ap.add_argument("--site", help="folder with spikingjelly 0.0.0.0.14 (pip --target)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    build_ref, reset = load_reference(args.reference_src, args.site)
    print(
        f"torch {torch.__version__}, {args.threads} threads, batch {args.batch} x 128 x 128, "
        f"median of {args.repeats}"
    )
    print(
        f"{'model':24s} {'':10s} {'reference s':>12s} {'lmuneuro s':>11s} {'speed-up':>9s}  outputs"
    )
    for preset in REFERENCE_NAMES:
        torch.manual_seed(0)
        ours = build_model(get_preset(preset))
        ref = torch.nn.DataParallel(build_ref(preset))  # as the reference trains and saves it
        ref.load_state_dict(to_reference_state_dict(ours))
        x = torch.randn(args.batch, 128, 128)
        y = F.one_hot(torch.randint(0, 35, (args.batch,)), 35).float()
        ours.eval()
        ref.eval()
        with torch.no_grad():
            same = torch.equal(ours(x), ref(x))
            reset(ref)

        def fwd(m, is_ref):
            def run():
                with torch.no_grad():
                    m(x)
                if is_ref:
                    reset(m)

            return run

        t_ref, t_ours = (
            median_time(fwd(ref, True), args.repeats),
            median_time(fwd(ours, False), args.repeats),
        )
        print(
            f"{preset:24s} {'eval fwd':10s} {t_ref:12.3f} {t_ours:11.3f} {t_ref / t_ours:8.2f}x  "
            f"{'identical' if same else 'DIFFERENT'}"
        )
        ours.train()
        ref.train()
        t_ref = median_time(train_step(ref, x, y, after=reset), args.repeats)
        t_ours = median_time(train_step(ours, x, y), args.repeats)
        print(
            f"{preset:24s} {'train step':10s} {t_ref:12.3f} {t_ours:11.3f} {t_ref / t_ours:8.2f}x"
        )


if __name__ == "__main__":
    main()
