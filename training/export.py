"""``florilege-train export``: a trained run → a model bundle the service can run without torch.

The bundle is checked before it exists: the ONNX graph is run with onnxruntime on the run's own
held-out crops and compared with the torch model, and the largest difference is recorded in
``bundle.json``. Given pages, both also decompose them, and whether the two decompositions are
identical is recorded beside it: a difference too small to see in one embedding can still move
an instance to another motif. Identical means the same instances, motifs and orientations, with
scores within ``SCORE_TOLERANCE``: scores are rounded to four decimals, and one lying on a
rounding boundary moves a step for the smallest difference. Export writes into a temporary
folder and renames it, and never replaces an existing bundle, so a bundle on disk is always
complete and always the one that was checked.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from service.bundle import (
    BUNDLE_FORMAT,
    EMBED_STAGE,
    MANIFEST,
    Bundle,
    InputContract,
    embedded_views,
    file_sha256,
    load_bundle,
)
from service.decompose.describe import BundleDescriber, Describer
from service.decompose.pipeline import discover, expand_paths, read_page
from training.config import load_config, to_dict
from training.model import Encoder
from training.train import CONFIG, CROPS, METRICS, load_weights

OPSET = 17
EMBED_FILE = "embed.onnx"
#: Export fails when onnxruntime and torch disagree by more than this on any embedding value.
TOLERANCE = 1e-4
PARITY_CROPS = 64
#: Pages decomposed with torch and with onnxruntime when export is given pages.
PARITY_PAGES = 4
#: ...whose instances' scores may differ by this much in identical decompositions.
SCORE_TOLERANCE = 1e-3


def export_run(
    run: Path, bundle: Path, tolerance: float = TOLERANCE, pages: Path | None = None
) -> dict[str, Any]:
    """Write the bundle of ``run`` into the new folder ``bundle``; return its manifest. With
    ``pages`` (images or a folder of them), the first ``PARITY_PAGES`` are decomposed with the
    torch model and with the bundle, and whether the decompositions are identical is recorded."""
    run, bundle = Path(run), Path(bundle)
    if bundle.exists():
        raise FileExistsError(f"{bundle} exists: export never overwrites a bundle")
    model, saved = load_weights(run)
    partial = bundle.with_name(bundle.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        _to_onnx(model, partial / EMBED_FILE)
        crops = _parity_crops(run, model.kwargs["size"])
        difference = _parity(model, partial / EMBED_FILE, crops)
        if difference > tolerance:
            raise ValueError(
                f"onnxruntime and torch differ by {difference:.2e} (> {tolerance:.0e}) on "
                f"{len(crops)} crops of {run}: the export is wrong, not written"
            )
        manifest = _manifest(run, saved, model, len(crops), difference)
        manifest["files"] = {EMBED_FILE: file_sha256(partial / EMBED_FILE)}
        checked = _written(partial, manifest)
        if pages is not None:
            parity = decomposition_parity(model, checked, Path(pages))
            manifest["parity"]["decomposition"] = parity
            _written(partial, manifest)
        partial.rename(bundle)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return manifest


def _written(folder: Path, manifest: dict[str, Any]) -> Bundle:
    """Write ``manifest`` into ``folder`` and load it with the service's own checks, as the
    bundle must pass them before it is published."""
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return load_bundle(folder)


def _to_onnx(model: Encoder, path: Path) -> None:
    size = model.kwargs["size"]
    example = torch.zeros(2, 1, size, size)
    # torch 2.13's default exporter needs onnxscript and warns from inside itself; the
    # TorchScript exporter covers this plain convolutional graph exactly, and says it is
    # deprecated, which is not ours to act on (pytest turns warnings into errors).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            opset_version=OPSET,
            input_names=["crops"],
            output_names=["embeddings"],
            dynamic_axes={"crops": {0: "batch"}, "embeddings": {0: "batch"}},
            dynamo=False,
        )
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def _parity_crops(run: Path, size: int) -> np.ndarray:
    """Real crops: the run's held-out ones (the training pool when there are too few)."""
    with np.load(run / CROPS) as saved:
        crops = np.concatenate([saved["validation"], saved["train"]])[:PARITY_CROPS]
    if crops.shape[1:] != (size, size):
        raise ValueError(f"{run / CROPS} holds {crops.shape[1:]} crops, the model takes {size}")
    return crops[:, None].astype(np.float32)


def _parity(model: Encoder, path: Path, crops: np.ndarray) -> float:
    """Largest absolute difference between torch and onnxruntime embeddings of ``crops``."""
    with torch.no_grad():
        expected = model(torch.from_numpy(crops)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    found = session.run(None, {"crops": crops})[0]
    return float(np.abs(found - expected).max())


@dataclass(frozen=True)
class TorchDescriber:
    """The trained torch model as the decomposition's descriptor: what the bundle must match.
    Views are made as ``Bundle.embed_views`` makes them (``embedded_views``)."""

    model: Encoder
    name: str = "torch"

    @property
    def size(self) -> int:
        return int(self.model.kwargs["size"])

    def views(self, crops: np.ndarray) -> np.ndarray:
        squares = crops.astype(np.float32)
        return embedded_views(squares, self._embed, int(self.model.kwargs["embedding"]))

    def upright(self, crops: np.ndarray) -> np.ndarray:
        return self._embed(crops.astype(np.float32))

    @torch.no_grad()
    def _embed(self, images: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(np.ascontiguousarray(images[:, None]))).numpy()


def decomposition_parity(model: Encoder, bundle: Bundle, pages: Path) -> dict[str, Any]:
    """Decompose the first ``PARITY_PAGES`` of ``pages`` with torch and with the bundle."""
    paths = expand_paths([pages])[:PARITY_PAGES]
    if not paths:
        raise FileNotFoundError(f"no page images under {pages} to check the export on")
    found = [
        _decomposed(paths, describer)
        for describer in (TorchDescriber(model), BundleDescriber(bundle))
    ]
    difference = _score_difference(*found)
    return {
        "pages": len(paths),
        "instances": sum(len(page["instances"]) for page in found[0]["pages"]),
        "identical": difference is not None and difference <= SCORE_TOLERANCE,
        "max_score_difference": difference,
        "source": str(pages),
    }


def _score_difference(first: dict[str, Any], second: dict[str, Any]) -> float | None:
    """The largest difference between the scores of two decompositions that are otherwise the
    same (instances compared by page and box: those of equal score may be listed in either
    order), or None where they differ otherwise."""
    places = [_by_place(doc) for doc in (first, second)]
    unscored = [{k: {**i, "score": None} for k, i in by.items()} for by in places]
    if _unscored(first) != _unscored(second) or unscored[0] != unscored[1]:
        return None
    return round(
        max((abs(i["score"] - places[1][k]["score"]) for k, i in places[0].items()), default=0.0), 6
    )


def _by_place(doc: dict[str, Any]) -> dict[tuple[str, tuple[int, ...]], dict[str, Any]]:
    return {
        (page["image"], tuple(i["bbox"])): i for page in doc["pages"] for i in page["instances"]
    }


def _unscored(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without its instances: its motifs, its pages' other fields, and how many
    instances each page has (two at one place would count once in ``_by_place``)."""
    return {
        "motifs": doc["motifs"],
        "pages": [{**page, "instances": len(page["instances"])} for page in doc["pages"]],
    }


def _decomposed(paths: list[Path], describer: Describer) -> dict[str, Any]:
    """The decomposition's pages and motifs, without the descriptor's name."""
    doc = discover(map(read_page, paths), describer=describer).decomposition.to_json()
    return {"pages": doc["pages"], "motifs": doc["motifs"]}


def _manifest(
    run: Path, saved: dict[str, Any], model: Encoder, crops: int, difference: float
) -> dict[str, Any]:
    size = model.kwargs["size"]
    contract = InputContract(size=size, channels=1, dtype="float32", value_range=(0.0, 1.0))
    return {
        "format": BUNDLE_FORMAT,
        "name": saved["model_name"],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"kwargs": model.kwargs, "epochs": saved["epoch"]},
        "training": {"config": to_dict(load_config(run / CONFIG)), "metrics": _last(run)},
        "stages": {
            EMBED_STAGE: {
                "file": EMBED_FILE,
                "input": {
                    **contract.to_json(),
                    "name": "crops",
                    "layout": "NCHW, dynamic batch",
                    "meaning": "ink (1) on paper (0): service.decompose.describe.template of a "
                    f"box, long side scaled to {size} and centred",
                },
                "output": {
                    "name": "embeddings",
                    "dim": model.kwargs["embedding"],
                    "normalised": True,
                    "orientation": "sensitive: compare the 8 dihedral views of a crop",
                },
            }
        },
        "parity": {EMBED_STAGE: {"max_abs_diff": difference, "crops": crops, "source": CROPS}},
        "versions": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "opset": OPSET,
            "python": platform.python_version(),
        },
    }


def _last(run: Path) -> dict[str, Any]:
    lines = (run / METRICS).read_text().splitlines() if (run / METRICS).is_file() else []
    return json.loads(lines[-1]) if lines else {}


def main_export(args: argparse.Namespace) -> int:
    """The ``export`` command: ``--run`` (parsed into ``run_dir``: ``run`` names the handler),
    ``--out`` and ``--pages``."""
    manifest = export_run(args.run_dir, args.out, pages=args.pages)
    parity = manifest["parity"][EMBED_STAGE]
    print(
        f"bundle written to {args.out}: {manifest['name']}, parity max |torch - onnxruntime| = "
        f"{parity['max_abs_diff']:.2e} on {parity['crops']} crops"
    )
    if args.pages is not None:
        pages = manifest["parity"]["decomposition"]
        verdict = "identical" if pages["identical"] else "NOT identical"
        print(f"decompositions of {pages['pages']} pages with torch and onnxruntime: {verdict}")
    return 0
