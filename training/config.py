"""Training configuration: frozen dataclasses read from YAML, one file per experiment.

A misspelled key would silently train with a default, so every unknown key is an error and every
value is type-checked. Keys left out take the defaults below, which ``configs/default.yaml``
spells out in full.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A configuration file that cannot be trusted to mean what it says."""


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of :class:`training.model.Encoder` (passed as its keyword arguments)."""

    size: int = 64  # crop side in pixels: the bundle's input contract
    channels: int = 16  # width of the first stage, doubled at each following stage
    depth: int = 4  # stages of two 3x3 convolutions and a 2x2 pooling
    embedding: int = 64


@dataclass(frozen=True)
class DataConfig:
    # Bank vignettes of this split join the crop pool (their identities are never read);
    # null trains on page crops only. Never "unseen": those designs are held out.
    bank_split: str | None = "seen"
    max_pages: int | None = None  # pages read from --data, in path order (null: all)
    validation_fraction: float = 0.1


@dataclass(frozen=True)
class AugmentConfig:
    """Print-like changes that must not change a crop's embedding (see ``training.augment``)."""

    spread: float = 0.5  # probability of ink spread or thinning by up to one pixel
    wear: float = 0.25  # largest fraction of the ink lost to wear
    fade: float = 0.3  # largest loss of ink darkness
    blur: float = 1.2  # largest Gaussian blur sigma in pixels
    noise: float = 0.06  # largest standard deviation of added noise
    scale: float = 0.1  # relative scale jitter
    shift: float = 0.05  # translation jitter as a fraction of the crop side
    tilt: float = 3.0  # rotation jitter in degrees (skewed scans)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    steps_per_epoch: int = 100
    batch_size: int = 64  # crops per step; each yields 2 orientations x 2 augmentations
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class SpriteModelConfig:
    """Hyperparameters of :class:`training.sprites.SpriteModel` (its keyword arguments)."""

    sprites: int = 40  # learned block designs; each is also used in its eight orientations
    sprite_size: int = 32  # side of a sprite's alpha map, in working pixels
    cell: int = 16  # encoder stride: one candidate placement per cell
    channels: int = 32
    min_scale: float = 0.5  # a placed sprite's side, as a fraction of sprite_size
    max_scale: float = 1.5


@dataclass(frozen=True)
class SpriteTrainConfig:
    steps: int = 1500
    batch_size: int = 16
    window: int = 128  # side of the random windows trained on, in working pixels
    component_side: float = 8.0  # images are scaled so their median ink component is this
    lr: float = 1e-3
    sprite_lr: float = 1e-2  # sprites learn faster than the encoder that places them
    presence_cost: float = 0.05  # per unit of mean presence: explain the ink with few sprites
    choice_entropy_cost: float = 0.01  # ramped up over the first half: one sprite per cell
    # Rewards spreading presence over many sprite views: no collapse onto one blob.
    usage_entropy_gain: float = 0.02
    log_every: int = 50
    seed: int = 0


@dataclass(frozen=True)
class SpriteDecodeConfig:
    presence: float = 0.5  # cells at least this present become instances
    overlap: float = 0.5  # of two instances overlapping more (IoU), the weaker is dropped


@dataclass(frozen=True)
class SpriteConfig:
    model: SpriteModelConfig = field(default_factory=SpriteModelConfig)
    train: SpriteTrainConfig = field(default_factory=SpriteTrainConfig)
    decode: SpriteDecodeConfig = field(default_factory=SpriteDecodeConfig)


def load_config(path: Path | None = None, schema: type = Config) -> Any:
    """The configuration of type ``schema`` in the YAML file ``path`` (None: the defaults)."""
    if path is None:
        return schema()
    try:
        document = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return _build(schema, document or {}, str(path))


def from_dict(document: Any, where: str = "config") -> Config:
    """Build a :class:`Config` from plain data, refusing unknown keys and mistyped values."""
    return _build(Config, document, where)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_config(config: Any, path: Path) -> None:
    """Write ``config`` in full, so a run folder says exactly what trained it."""
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))


def with_seed(config: Config, seed: int | None) -> Config:
    """``config`` with its training seed replaced (a command-line override), or unchanged."""
    if seed is None:
        return config
    return dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))


def _build(cls: type, document: Any, where: str) -> Any:
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(document).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(document) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(known)}")
    values = {}
    for name, value in document.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value, f"{where}.{name}")
        else:
            values[name] = _check(kind, value, f"{where}.{name}")
    return cls(**values)


def _check(kind: Any, value: Any, where: str) -> Any:
    """``value`` if it has type ``kind`` (ints are accepted as floats, bools never as numbers)."""
    allowed = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    for option in allowed:
        if option is type(None) and value is None:
            return None
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option in (int, str, bool) and type(value) is option:
            return value
    names = " or ".join("null" if a is type(None) else a.__name__ for a in allowed)
    raise ConfigError(f"{where}: expected {names}, got {value!r}")
