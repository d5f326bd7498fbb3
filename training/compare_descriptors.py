"""Does a learned embedding group instances into motifs better than the baseline templates?

Both descriptors run through the service's own decomposition (``decompose_paths`` with a
``describer``): same segmentation, same clustering, only the comparison of instances differs.
Detection figures can still differ a little, because an instance's score (and so whether it is
kept) depends on how well its motif is supported.

    python3 -m training.compare_descriptors --bundle BUNDLE --truth DIR [--truth DIR] \
        [--join 0.7 --join 0.8] [--merge 0.85]

Labels are read only by the scorer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from service.bundle import Bundle, load_bundle
from service.decompose.cluster import ClusterParams
from service.decompose.describe import BundleDescriber, Describer, TemplateDescriber
from service.decompose.pipeline import BaselineParams, decompose_paths
from training.evaluate import evaluate

FIGURES = ("f1", "ari", "nmi", "purity", "orientation", "predicted_motifs", "truth_motifs")


def compare(
    truth_dirs: Sequence[Path], bundle: Bundle, joins: Sequence[float], merge: float
) -> list[dict[str, object]]:
    """One row of scores per split, descriptor and join threshold."""
    describers: dict[str, Describer] = {
        "templates": TemplateDescriber(),
        "learned": BundleDescriber(bundle),
    }
    rows = []
    for truth in truth_dirs:
        for name, describer in describers.items():
            for join in joins:
                params = BaselineParams(cluster=ClusterParams(join=join, merge=merge))
                found = decompose_paths([Path(truth) / "images"], params, describer)
                ((split, figures),) = evaluate(found, [truth])["splits"].items()
                rows.append(
                    {"split": split, "descriptor": name, "join": join}
                    | {key: figures[key] for key in FIGURES}
                )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--truth", type=Path, action="append", required=True)
    defaults = ClusterParams()
    parser.add_argument("--join", type=float, action="append", help=f"default: {defaults.join}")
    parser.add_argument("--merge", type=float, default=defaults.merge)
    args = parser.parse_args(argv)
    for row in compare(
        args.truth, load_bundle(args.bundle), args.join or [defaults.join], args.merge
    ):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
