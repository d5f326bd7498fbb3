"""``florilege-train fit``: train the encoder on unlabeled crops, resumably.

A run folder holds everything needed to continue or to export it:
``config.yaml`` (the full configuration, written once), ``crops.npz`` (the crop pool, so a
resumed run sees the same data without segmenting again), ``metrics.jsonl`` (one line per
epoch), ``checkpoint.pt`` (model, optimiser, schedule, epoch and random state: for resuming)
and ``model.pt`` (the trained weights and how to rebuild the model: for export). Weights and
checkpoint are separate so that exporting never needs, nor ships, the optimiser state.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from training.config import Config, load_config, save_config, to_dict, with_seed
from training.contrastive import contrastive_loss, make_views, similarity_stats
from training.crops import split_crops, training_crops
from training.model import MODEL_NAME, Encoder, build_model

CONFIG = "config.yaml"
CROPS = "crops.npz"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.pt"
#: Validation crops per epoch; augmented with a fixed seed so epochs are comparable.
VALIDATION_CROPS = 256


@contextmanager
def use_seed(seed: int) -> Iterator[None]:
    """Seed Python, NumPy and torch for the block, then restore their states, so seeding one
    step (the model's initialisation) does not change the randomness of whatever follows."""
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    saved_cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])
        if saved_cuda is not None:
            torch.cuda.set_rng_state_all(saved_cuda)


def fit(
    data: Path,
    out: Path,
    config: Config | None = None,
    *,
    resume: bool = False,
    device: str = "auto",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train (or, with ``resume``, continue) the run in ``out``; return this call's metrics."""
    out = Path(out)
    config = _prepare_run(out, config, resume)
    train_crops, val_crops = _crops(Path(data), out, config, progress)
    target = _device(device)
    with use_seed(config.train.seed):
        model = Encoder(**to_dict(config)["model"]).to(target)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=config.train.epochs * config.train.steps_per_epoch
    )
    gen = torch.Generator().manual_seed(config.train.seed)
    start = _restore(out / CHECKPOINT, model, optimiser, schedule, gen) if resume else 0
    _keep_metrics(out / METRICS, start)
    history = []
    for epoch in range(start, config.train.epochs):
        started = time.perf_counter()
        losses = _train_epoch(model, optimiser, schedule, train_crops, config, gen, progress)
        metrics = {
            "epoch": epoch + 1,
            "train_loss": round(float(np.mean(losses)), 5),
            **_validate(model, val_crops, config),
            "lr": schedule.get_last_lr()[0],
            "crops": len(train_crops),
            "device": target.type,
            "seconds": round(time.perf_counter() - started, 2),
        }
        with (out / METRICS).open("a") as log:
            log.write(json.dumps(metrics) + "\n")
        _save(out, model, optimiser, schedule, gen, epoch + 1, config)
        history.append({**metrics, "step_losses": losses})
    return history


def _prepare_run(out: Path, config: Config | None, resume: bool) -> Config:
    """The run's configuration; a new run writes it, a resumed run must agree with it."""
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise FileNotFoundError(f"nothing to resume: {out / CHECKPOINT} does not exist")
        saved = load_config(out / CONFIG)
        if config is not None and config != saved:
            raise ValueError(
                f"the configuration given differs from {out / CONFIG}; a resumed "
                "run keeps its own (start a new run to change it)"
            )
        return saved
    if (out / CONFIG).exists():
        raise FileExistsError(
            f"{out} already holds a run: pass --resume to continue it, or choose another --out"
        )
    config = config or Config()
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / CONFIG)
    return config


def _keep_metrics(path: Path, epochs: int) -> None:
    """Drop metric lines of epochs after the checkpoint: a run stopped between logging an epoch
    and saving it would otherwise log that epoch twice once resumed."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if json.loads(line)["epoch"] <= epochs]
    path.write_text("".join(line + "\n" for line in lines))


def _crops(
    data: Path, out: Path, config: Config, progress: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    path = out / CROPS
    if not path.is_file():
        crops = training_crops(data, config.data, config.model.size, progress)
        train, val = split_crops(crops, config.data.validation_fraction, config.train.seed)
        np.savez_compressed(path, train=train, validation=val)
    with np.load(path) as saved:
        train, val = saved["train"], saved["validation"][:VALIDATION_CROPS]
    return torch.from_numpy(train)[:, None], torch.from_numpy(val)[:, None]


def _device(name: str) -> torch.device:
    """``auto``: CUDA where torch sees a device, else the CPU; ``cuda`` where there is none is
    an error, never a silent fall back to the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    return torch.device(name)


def _train_epoch(
    model: Encoder,
    optimiser: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    crops: torch.Tensor,
    config: Config,
    gen: torch.Generator,
    progress: bool,
) -> list[float]:
    model.train()
    device = next(model.parameters()).device
    batch = min(config.train.batch_size, len(crops))
    losses = []
    steps = tqdm(range(config.train.steps_per_epoch), desc="training", disable=not progress)
    for _ in steps:
        chosen = torch.randperm(len(crops), generator=gen)[:batch]
        views = make_views(crops[chosen].to(device), config.augment, gen)
        embeddings = model(views.crops)
        loss = contrastive_loss(embeddings, views.groups, config.train.temperature)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
        steps.set_postfix(loss=f"{losses[-1]:.3f}")
    return losses


@torch.no_grad()
def _validate(model: Encoder, crops: torch.Tensor, config: Config) -> dict[str, float]:
    """Loss and similarities on held-out crops, augmented identically every epoch."""
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(config.train.seed + 1)
    views = make_views(crops.to(device), config.augment, gen)
    embeddings = model(views.crops)
    loss = float(contrastive_loss(embeddings, views.groups, config.train.temperature))
    stats = similarity_stats(embeddings, views.groups)
    return {
        "val_loss": round(loss, 5),
        "val_positive": round(stats["positive"], 5),
        "val_negative": round(stats["negative"], 5),
    }


def _save(
    out: Path,
    model: Encoder,
    optimiser: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    gen: torch.Generator,
    epoch: int,
    config: Config,
) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    described = {"model_name": MODEL_NAME, "model_kwargs": model.kwargs, "epoch": epoch}
    _atomic_save({**described, "state_dict": state, "config": to_dict(config)}, out / WEIGHTS)
    checkpoint = {
        **described,
        "model": state,
        "optimiser": optimiser.state_dict(),
        "schedule": schedule.state_dict(),
        "generator": gen.get_state(),
    }
    _atomic_save(checkpoint, out / CHECKPOINT)


def _atomic_save(payload: dict[str, Any], path: Path) -> None:
    """Write then rename, so an interrupted run never leaves a half-written file behind."""
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save(payload, partial)
    os.replace(partial, path)


def _restore(
    path: Path,
    model: Encoder,
    optimiser: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    gen: torch.Generator,
) -> int:
    """Load a checkpoint into the freshly built objects; return the epochs already done."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state["model_name"] != MODEL_NAME or state["model_kwargs"] != model.kwargs:
        raise ValueError(
            f"{path} holds {state['model_name']} {state['model_kwargs']}, "
            f"not the {MODEL_NAME} {model.kwargs} its config describes"
        )
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    schedule.load_state_dict(state["schedule"])
    gen.set_state(state["generator"])
    return int(state["epoch"])


def load_weights(run: Path) -> tuple[Encoder, dict[str, Any]]:
    """The trained model of a run (in eval mode) and the description stored with it."""
    saved = torch.load(Path(run) / WEIGHTS, map_location="cpu", weights_only=True)
    model = build_model(saved["model_name"], saved["model_kwargs"])
    model.load_state_dict(saved["state_dict"])
    return model.eval(), saved


def main_fit(args: argparse.Namespace) -> int:
    """The ``fit`` command: ``--data``, ``--out``, ``--config``, ``--resume``, ``--seed``,
    ``--device``."""
    config = load_config(args.config) if args.config else None
    if args.seed is not None:
        base = config or (load_config(args.out / CONFIG) if args.resume else Config())
        config = with_seed(base, args.seed)
    history = fit(args.data, args.out, config, resume=args.resume, device=args.device)
    for metrics in history:
        shown = {k: v for k, v in metrics.items() if k != "step_losses"}
        print(json.dumps(shown))
    print(f"run in {args.out}: weights {WEIGHTS}, checkpoint {CHECKPOINT}, metrics {METRICS}")
    return 0
