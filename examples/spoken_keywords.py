"""Spoken keywords end to end, nothing to download: synthesise "yes", "no", "up", "down", "left",
"right", "on", "off", "stop", "go" with espeak-ng (lmuneuro synthesize: 78 speakers x 7 accents,
random speed and pitch, random offset, white noise), train the small audio preset on the Speech
Commands log-mel features, convert it for Loihi 2, run it on the emulator and on Lava's
bit-accurate simulator, write the energy report.

    make keywords                  (installs espeak-ng, then runs this)
    python examples/spoken_keywords.py --workdir runs/keywords --epochs 20

The test split's speakers (espeak-ng voice variants) are never heard in training.
"""

import argparse
from pathlib import Path

from lmuneuro.data import RECIPES
from lmuneuro.data.spoken import build
from lmuneuro.demo import KEYWORDS, run_demo


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--workdir", default="runs/keywords", help="outputs; the clips go to WORKDIR/data"
    )
    p.add_argument("--epochs", type=int, default=20, help="training epochs")
    p.add_argument(
        "--lava-samples", type=int, default=10, help="test clips also run on Lava (about 3 s each)"
    )
    args = p.parse_args()
    data = Path(args.workdir) / "data"
    r = build(data, RECIPES["spoken-keywords"])  # reused when it is there and intact
    print(f"{data}: {r['clips']} clips (test and validation speakers unseen in training)")
    run_demo(
        args.workdir,
        epochs=args.epochs,
        lava_samples=args.lava_samples,
        recipe=KEYWORDS,
        data_dir=str(data),
    )


if __name__ == "__main__":
    main()
