"""The encoder, its configuration, the label-free objective and resumable training."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from service.dihedral import ALL_ORIENTATIONS, orient
from training import train
from training.augment import augment, orient_batch, orient_each
from training.config import (
    CONFIG_DIR,
    AugmentConfig,
    Config,
    ConfigError,
    from_dict,
    load_config,
    save_config,
)
from training.contrastive import contrastive_loss, make_views, same_image
from training.crops import bank_crops, page_crops
from training.model import Encoder, build_model
from training.synth import generate

TINY = CONFIG_DIR / "tiny.yaml"


def tiny(epochs: int = 2, steps: int = 4, seed: int = 0) -> Config:
    config = load_config(TINY)
    changed = dataclasses.replace(config.train, epochs=epochs, steps_per_epoch=steps, seed=seed)
    return dataclasses.replace(config, train=changed)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two unlabeled synthetic pages (the annotations written beside them are never read)."""
    folder = tmp_path_factory.mktemp("pages")
    generate(folder, pages=2, split="seen", seed=3)
    return folder


# --- configuration --------------------------------------------------------------------------


def test_default_yaml_spells_out_the_defaults():
    assert load_config(CONFIG_DIR / "default.yaml") == Config()


def test_tiny_yaml_overrides_only_what_it_names():
    config = load_config(TINY)
    assert config.model.channels == 4 and config.model.size == Config().model.size
    assert config.augment == AugmentConfig()


@pytest.mark.parametrize(
    "document, complaint",
    [
        ({"train": {"epoch": 3}}, "unknown key(s) ['epoch']"),
        ({"trian": {}}, "unknown key(s) ['trian']"),
        ({"train": {"epochs": "ten"}}, "config.train.epochs: expected int"),
        ({"train": {"epochs": True}}, "config.train.epochs: expected int"),
        ({"data": {"bank_split": 3}}, "expected str or null"),
        ({"model": 64}, "config.model: expected a mapping"),
    ],
)
def test_config_refuses_unknown_keys_and_wrong_types(document, complaint):
    with pytest.raises(ConfigError) as error:
        from_dict(document)
    assert complaint in str(error.value)


def test_config_round_trips_through_yaml(tmp_path):
    config = from_dict({"train": {"lr": 1, "seed": 7}, "data": {"bank_split": None}})
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float)
    save_config(config, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == config


# --- model, transforms, objective -----------------------------------------------------------


def test_orient_batch_follows_the_service_convention():
    image = np.random.default_rng(0).random((5, 5)).astype(np.float32)
    batch = torch.from_numpy(image)[None, None]
    for orientation in ALL_ORIENTATIONS:
        found = orient_batch(batch, orientation)[0, 0].numpy()
        np.testing.assert_array_equal(found, orient(image, orientation))
    indices = torch.tensor([3, 6])
    both = orient_each(torch.cat([batch, batch]), indices)
    np.testing.assert_array_equal(both[1, 0].numpy(), orient(image, ALL_ORIENTATIONS[6]))


def test_encoder_gives_unit_embeddings_and_describes_itself():
    model = Encoder(size=32, channels=4, depth=2, embedding=8).eval()
    out = model(torch.rand(3, 1, 32, 32))
    assert out.shape == (3, 8)
    np.testing.assert_allclose(out.norm(dim=1).detach().numpy(), 1.0, rtol=1e-5)
    assert build_model("florilege-encoder", model.kwargs).kwargs == model.kwargs
    with pytest.raises(ValueError, match="divisible"):
        Encoder(size=30, depth=2)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", {})


def test_augment_is_seeded_in_range_and_changes_the_crop():
    crops = torch.from_numpy(bank_crops("seen", 64)[:4])[:, None]
    first = augment(crops, AugmentConfig(), torch.Generator().manual_seed(1))
    again = augment(crops, AugmentConfig(), torch.Generator().manual_seed(1))
    assert first.shape == crops.shape
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, again)
    assert float((first - crops).abs().mean()) > 0.01


def test_symmetric_crops_are_positives_in_every_orientation():
    disc = torch.zeros(1, 1, 16, 16)
    disc[..., 4:12, 4:12] = 1.0
    hook = torch.zeros(1, 1, 16, 16)
    hook[..., 2:14, 3:6] = 1.0
    hook[..., 2:5, 3:12] = 1.0
    quarter = ALL_ORIENTATIONS[1]
    assert bool(same_image(disc, orient_batch(disc, quarter)))
    assert not bool(same_image(hook, orient_batch(hook, quarter)))
    views = make_views(torch.cat([disc, hook]), AugmentConfig(), torch.Generator().manual_seed(0))
    groups = views.groups.tolist()
    assert len(groups) == 8
    assert len(set(groups[0::2])) == 1  # the square looks the same in both orientations
    assert len(set(groups[1::2])) == 2  # the hook does not


def test_contrastive_loss_rewards_matching_positives():
    groups = torch.tensor([0, 0, 1, 1])
    aligned = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    crossed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert contrastive_loss(aligned, groups, 0.1) < contrastive_loss(crossed, groups, 0.1)


# --- data and training ----------------------------------------------------------------------


def test_page_crops_come_from_the_baseline_segmentation(pages):
    crops = page_crops(pages, 64)
    assert crops.ndim == 3 and crops.shape[1:] == (64, 64) and len(crops) >= 5
    assert crops.min() >= 0.0 and crops.max() <= 1.0
    with pytest.raises(ValueError, match="seen"):
        bank_crops("unseen", 64)


def test_auto_trains_on_cuda_where_torch_sees_it_and_else_on_the_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert train._device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="torch sees no CUDA device"):
            train._device("cuda")


def test_use_seed_restores_the_random_state():
    random.seed(11)
    expected = random.random()
    random.seed(11)
    with train.use_seed(5):
        inside = torch.rand(1), np.random.random()
    assert random.random() == expected
    with train.use_seed(5):
        assert torch.equal(torch.rand(1), inside[0]) and np.random.random() == inside[1]


CUDA = pytest.param(
    "cuda",
    marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device"),
)


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_a_tiny_model_learns(pages, tmp_path, device):
    config = tiny(epochs=1, steps=16)
    history = train.fit(pages, tmp_path / "run", config, device=device, progress=False)
    losses = history[0]["step_losses"]
    assert np.mean(losses[-6:]) < 0.85 * np.mean(losses[:3])  # 0.75 measured; 1 if untrained
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "crops.npz", "model.pt"}
    assert load_config(run / "config.yaml") == config
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in logged] == [1] and logged[0]["val_loss"] > 0
    assert logged[0]["device"] == device
    model, saved = train.load_weights(run)
    assert saved["model_kwargs"] == model.kwargs and not model.training


@pytest.fixture(scope="module")
def straight(pages, tmp_path_factory) -> Path:
    """A two-epoch run that was never interrupted."""
    run = tmp_path_factory.mktemp("straight") / "run"
    train.fit(pages, run, tiny(epochs=2, steps=3), device="cpu", progress=False)
    return run


# Stopped while training epoch 2, or after logging epoch 2 but before saving it.
@pytest.mark.parametrize("stage", ["_train_epoch", "_save"])
def test_resume_continues_exactly_where_the_run_stopped(
    pages, straight, tmp_path, monkeypatch, stage
):
    real, calls = getattr(train, stage), []

    def crash_the_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    run = tmp_path / "interrupted"
    monkeypatch.setattr(train, stage, crash_the_second_time)
    with pytest.raises(KeyboardInterrupt):
        train.fit(pages, run, tiny(epochs=2, steps=3), device="cpu", progress=False)
    monkeypatch.setattr(train, stage, real)
    resumed = train.fit(pages, run, resume=True, device="cpu", progress=False)

    assert [m["epoch"] for m in resumed] == [2]
    expected = train.load_weights(straight)[0].state_dict()
    continued = train.load_weights(run)[0].state_dict()
    for name, tensor in expected.items():
        torch.testing.assert_close(continued[name], tensor, rtol=0, atol=1e-6)
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    reference = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in logged] == [1, 2]
    assert [m["train_loss"] for m in logged] == [m["train_loss"] for m in reference]


def test_a_run_is_never_overwritten_nor_resumed_with_another_config(pages, tmp_path):
    run = tmp_path / "run"
    train.fit(pages, run, tiny(epochs=1, steps=1), progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train.fit(pages, run, tiny(epochs=1, steps=1), progress=False)
    with pytest.raises(ValueError, match="differs"):
        train.fit(pages, run, tiny(epochs=1, steps=1, seed=9), resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train.fit(pages, tmp_path / "other", resume=True, progress=False)
