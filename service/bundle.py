"""Model bundles: a folder of ONNX files and ``bundle.json``, run with onnxruntime (no torch).

The service must never run a model other than the one the bundle describes, so loading checks
the format version this code reads, the sha256 of every listed file and the input contract, and
refuses with a message that says which check failed. Execution providers are chosen by the
caller and never silently swapped: asking for CUDA where it cannot run is an error unless the
caller allows falling back, and ``Bundle.providers`` says what actually runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from service.dihedral import ALL_ORIENTATIONS, all_orientations

BUNDLE_FORMAT = 1
MANIFEST = "bundle.json"
EMBED_STAGE = "embed"
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)
BATCH = 256

log = logging.getLogger(__name__)


class BundleError(ValueError):
    """A bundle this service cannot or must not run."""


@dataclass(frozen=True)
class InputContract:
    """What a stage's input must be: (N, channels, size, size) ``dtype`` in ``value_range``."""

    size: int
    channels: int
    dtype: str
    value_range: tuple[float, float]

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> InputContract:
        low, high = doc["range"]
        return cls(int(doc["size"]), int(doc["channels"]), str(doc["dtype"]), (low, high))

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "channels": self.channels,
            "dtype": self.dtype,
            "range": list(self.value_range),
        }


class Bundle:
    """A loaded bundle: its manifest and one onnxruntime session for the embedding stage."""

    def __init__(self, folder: Path, manifest: dict[str, Any], session: ort.InferenceSession):
        self.folder = folder
        self.manifest = manifest
        self.session = session
        stage = manifest["stages"][EMBED_STAGE]
        self.contract = InputContract.from_json(stage["input"])
        self.dimension = int(stage["output"]["dim"])
        self._input = session.get_inputs()[0].name

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def digest(self) -> str:
        """sha256 of ``bundle.json``, which lists the hashes of every other file: the model's
        identity in a decomposition's ``generator.model``."""
        return file_sha256(self.folder / MANIFEST)

    @property
    def providers(self) -> list[str]:
        """The execution providers onnxruntime actually runs this bundle with, in order."""
        return list(self.session.get_providers())

    def embed(self, crops: np.ndarray, batch: int = BATCH) -> np.ndarray:
        """(N, S, S) or (N, 1, S, S) crops → (N, D) unit-length embeddings, in batches."""
        crops = self._checked(crops)
        if not len(crops):
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            self.session.run(None, {self._input: crops[start : start + batch]})[0]
            for start in range(0, len(crops), batch)
        ]
        return np.concatenate(parts).astype(np.float32)

    def embed_views(self, crops: np.ndarray, batch: int = BATCH) -> np.ndarray:
        """(N, 8, D): embeddings of every crop in each of ``ALL_ORIENTATIONS``, the learned
        counterpart of ``service.decompose.describe.dihedral_views``."""
        squares = self._checked(crops)[:, 0]
        return embedded_views(
            squares, lambda views: self.embed(views, batch), self.dimension, batch
        )

    def _checked(self, crops: np.ndarray) -> np.ndarray:
        contract = self.contract
        array = np.asarray(crops)
        if array.ndim == 3:
            array = array[:, None]
        expected = (contract.channels, contract.size, contract.size)
        if array.ndim != 4 or array.shape[1:] != expected:
            raise ValueError(
                f"crops must be (N, {', '.join(map(str, expected))}), got {array.shape}"
            )
        low, high = contract.value_range
        if array.size and (array.min() < low or array.max() > high):
            raise ValueError(
                f"crop values must lie in [{low}, {high}], got [{array.min()}, {array.max()}]"
            )
        return np.ascontiguousarray(array, dtype=np.dtype(contract.dtype))


def embedded_views(
    squares: np.ndarray,
    embed: Callable[[np.ndarray], np.ndarray],
    dimension: int,
    batch: int = BATCH,
) -> np.ndarray:
    """(N, S, S) squares → (N, 8, ``dimension``): ``embed`` of each square in every one of
    ``ALL_ORIENTATIONS``, ``embed`` taking (M, S, S) images to (M, ``dimension``). Views are
    made ``batch`` images at a time: all of a large collection's would not fit in memory."""
    count = len(ALL_ORIENTATIONS)
    step = max(1, batch // count)
    parts = [np.zeros((0, count, dimension), dtype=np.float32)]
    for start in range(0, len(squares), step):
        chunk = squares[start : start + step]
        views = all_orientations(chunk).reshape(-1, *chunk.shape[1:])
        parts.append(embed(views).reshape(len(chunk), count, dimension))
    return np.concatenate(parts)


def load_bundle(
    folder: Path | str,
    providers: Sequence[str] = DEFAULT_PROVIDERS,
    allow_fallback: bool = False,
) -> Bundle:
    """Check and load the bundle in ``folder``, run with ``providers`` (in order of preference).

    With ``allow_fallback``, providers this onnxruntime lacks are skipped (and logged) as long as
    one remains; without it, each one asked for must be available and the first must be used.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    verify_files(folder, manifest)
    chosen = _choose_providers(list(providers), allow_fallback)
    stage_file = folder / manifest["stages"][EMBED_STAGE]["file"]
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: a missing provider is reported by us
    session = ort.InferenceSession(str(stage_file), options, providers=chosen)
    used = session.get_providers()
    if used[0] != chosen[0]:
        message = f"onnxruntime could not start {chosen[0]} for {stage_file} and ran {used} instead"
        if not allow_fallback:
            raise BundleError(message)
        log.warning(message)
    return Bundle(folder, manifest, session)


def read_manifest(folder: Path) -> dict[str, Any]:
    """``bundle.json``, refused unless its format is the one this code reads."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{folder} is not a model bundle: {MANIFEST} is missing") from None
    except json.JSONDecodeError as error:
        raise BundleError(f"{path} is not valid JSON: {error}") from None
    found = manifest.get("format") if isinstance(manifest, dict) else None
    if found != BUNDLE_FORMAT:
        raise BundleError(
            f"{path} has bundle format {found!r}, this version of florilege reads format "
            f"{BUNDLE_FORMAT}: export the model again with a matching florilege-train"
        )
    stage = manifest.get("stages", {}).get(EMBED_STAGE)
    if not isinstance(stage, dict) or not {"file", "input", "output"} <= set(stage):
        raise BundleError(f"{path} describes no usable {EMBED_STAGE!r} stage")
    try:
        InputContract.from_json(stage["input"])
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(
            f"{path}: the {EMBED_STAGE!r} input contract is malformed: {error}"
        ) from None
    return manifest


def verify_files(folder: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists exists with its recorded sha256; every stage is listed."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{folder / MANIFEST} lists no files and their hashes")
    for stage, description in manifest["stages"].items():
        if description["file"] not in files:
            raise BundleError(f"{folder / MANIFEST}: stage {stage!r} file has no recorded hash")
    for name, expected in files.items():
        path = folder / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BundleError(f"{folder / MANIFEST} lists {name!r}, outside the bundle")
        if not path.is_file():
            raise BundleError(f"bundle {folder} is incomplete: {name} is missing")
        if file_sha256(path) != expected:
            raise BundleError(
                f"bundle {folder}: {name} does not match the sha256 in {MANIFEST} "
                "(the file was changed or corrupted after export); refusing to run it"
            )


def _choose_providers(asked: list[str], allow_fallback: bool) -> list[str]:
    available = ort.get_available_providers()
    if not asked:
        raise BundleError("no onnxruntime execution provider was asked for")
    missing = [p for p in asked if p not in available]
    if missing and not allow_fallback:
        raise BundleError(
            f"execution provider(s) {missing} not available in this onnxruntime "
            f"(it offers {available}); install onnxruntime-gpu for CUDA, or allow falling back"
        )
    chosen = [p for p in asked if p in available]
    if not chosen:
        raise BundleError(f"none of the providers {asked} is available (offered: {available})")
    if missing:
        log.warning("providers %s unavailable, running with %s", missing, chosen)
    return chosen


def file_sha256(path: Path) -> str:
    """The sha256 hex digest the manifest records for ``path`` (shared with the exporter)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
