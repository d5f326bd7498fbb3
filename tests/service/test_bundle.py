"""Loading and running model bundles with onnxruntime only.

The bundle is built by the training code in a subprocess, so torch never enters this test
process: the service's tests must be able to see that the service runs without it.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from service.bundle import BundleError, load_bundle
from service.cli import main as florilege
from service.decompose.describe import BundleDescriber
from service.decomposition import Decomposition
from service.dihedral import ALL_ORIENTATIONS, orient

REPO = Path(__file__).resolve().parents[2]

BUILD = """
import dataclasses, sys
from pathlib import Path
import numpy as np, torch
from training import train
from training.config import CONFIG_DIR, load_config
from training.export import export_run
from training.synth import generate

root = Path(sys.argv[1])
generate(root / "pages", pages=2, split="seen", seed=7)
config = load_config(CONFIG_DIR / "tiny.yaml")
config = dataclasses.replace(
    config, train=dataclasses.replace(config.train, epochs=1, steps_per_epoch=2)
)
train.fit(root / "pages", root / "run", config, progress=False)
export_run(root / "run", root / "bundle")
with np.load(root / "run" / "crops.npz") as saved:
    crops = saved["train"][:9]
assert len(crops) == 9, f"only {len(crops)} training crops: too few for these tests"
with torch.no_grad():
    expected = train.load_weights(root / "run")[0](torch.from_numpy(crops[:, None])).numpy()
np.save(root / "crops.npy", crops)
np.save(root / "torch.npy", expected)
"""

NO_TORCH = """
import sys
sys.modules["torch"] = None  # from here on, `import torch` raises ImportError
import numpy as np
from service.bundle import load_bundle

bundle = load_bundle(sys.argv[1])
np.save(sys.argv[3], bundle.embed(np.load(sys.argv[2])))
try:
    import torch  # noqa: F401
except ImportError:
    print("torch blocked")
print("providers", ",".join(bundle.providers))
print("training imported", any(m.split(".")[0] == "training" for m in sys.modules))
"""


def _python(script: str, *args: object) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle-build")
    _python(BUILD, root)
    return root


@pytest.fixture
def copy(built: Path, tmp_path: Path) -> Path:
    """A private copy of the bundle, free to be damaged."""
    return Path(shutil.copytree(built / "bundle", tmp_path / "bundle"))


def test_the_service_embeds_without_torch(built, tmp_path):
    out = _python(NO_TORCH, built / "bundle", built / "crops.npy", tmp_path / "found.npy")
    assert "torch blocked" in out
    assert "providers CPUExecutionProvider" in out
    assert "training imported False" in out
    found, expected = np.load(tmp_path / "found.npy"), np.load(built / "torch.npy")
    assert found.shape == expected.shape == (9, 16)
    assert np.abs(found - expected).max() < 1e-4


def test_embeddings_are_batched_and_unit_length(built):
    bundle = load_bundle(built / "bundle")
    crops = np.load(built / "crops.npy")
    whole = bundle.embed(crops)
    np.testing.assert_allclose(np.linalg.norm(whole, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(bundle.embed(crops[:, None], batch=2), whole, atol=1e-6)
    assert bundle.embed(np.zeros((0, 64, 64), np.float32)).shape == (0, 16)
    assert bundle.name == "florilege-encoder" and len(bundle.digest) == 64


def test_views_are_the_embeddings_of_each_orientation(built):
    bundle = load_bundle(built / "bundle")
    crops = np.load(built / "crops.npy")[:3]
    views = bundle.embed_views(crops)
    assert views.shape == (3, 8, 16)
    np.testing.assert_allclose(bundle.embed_views(crops, batch=16), views, atol=1e-6)
    assert bundle.embed_views(crops[:0]).shape == (0, 8, 16)
    for index, orientation in enumerate(ALL_ORIENTATIONS):
        turned = np.stack([orient(c, orientation) for c in crops])
        np.testing.assert_allclose(views[:, index], bundle.embed(turned), atol=1e-6)


def test_the_describer_s_upright_view_is_its_first(built):
    describer = BundleDescriber(load_bundle(built / "bundle"))
    crops = np.load(built / "crops.npy")[:3]
    np.testing.assert_allclose(describer.upright(crops), describer.views(crops)[:, 0], atol=1e-6)


def test_crops_outside_the_input_contract_are_refused(built):
    bundle = load_bundle(built / "bundle")
    with pytest.raises(ValueError, match=r"\(N, 1, 64, 64\)"):
        bundle.embed(np.zeros((2, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"lie in \[0.0, 1.0\]"):
        bundle.embed(np.full((1, 64, 64), 255.0, np.float32))


def test_a_tampered_file_is_refused(copy):
    onnx_file = copy / "embed.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[-1] ^= 0xFF
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="embed.onnx does not match the sha256"):
        load_bundle(copy)


def test_a_missing_file_is_refused(copy):
    (copy / "embed.onnx").unlink()
    with pytest.raises(BundleError, match="incomplete: embed.onnx is missing"):
        load_bundle(copy)


def test_another_format_version_is_refused(copy):
    manifest = json.loads((copy / "bundle.json").read_text())
    manifest["format"] = 99
    (copy / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="bundle format 99, this version of florilege reads"):
        load_bundle(copy)


def test_a_folder_without_manifest_is_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="not a model bundle: bundle.json is missing"):
        load_bundle(tmp_path)


HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="this onnxruntime has no CUDA provider")


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here")
def test_cuda_is_never_swapped_for_cpu_silently(built):
    asked = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(BundleError, match=r"\['CUDAExecutionProvider'\] not available"):
        load_bundle(built / "bundle", providers=asked)
    bundle = load_bundle(built / "bundle", providers=asked, allow_fallback=True)
    assert bundle.providers == ["CPUExecutionProvider"]


@needs_cuda
def test_cuda_embeds_as_the_cpu_does(built):
    on_gpu = load_bundle(built / "bundle", providers=["CUDAExecutionProvider"])
    assert on_gpu.providers[0] == "CUDAExecutionProvider"
    crops = np.load(built / "crops.npy")
    expected = load_bundle(built / "bundle").embed_views(crops)
    found = on_gpu.embed_views(crops, batch=16)
    # cuDNN may pick other convolution algorithms than the CPU; unit vectors agree to 1e-3.
    assert np.abs(found - expected).max() < 1e-3
    assert np.abs(found[:, 0] - np.load(built / "torch.npy")).max() < 1e-3


@needs_cuda
def test_decompose_on_cuda_gives_the_cpu_decomposition(built, tmp_path):
    images = str(built / "pages" / "images")
    found = {}
    for providers in ("CPUExecutionProvider", "CUDAExecutionProvider,CPUExecutionProvider"):
        out = tmp_path / f"{providers}.json"
        command = ["decompose", images, "--bundle", str(built / "bundle"), "--out", str(out)]
        assert florilege([*command, "--providers", providers]) == 0
        found[providers] = Decomposition.read(out)
    cpu, gpu = found.values()
    assert cpu.motifs == gpu.motifs
    for on_cpu, on_gpu in zip(cpu.pages, gpu.pages, strict=True):
        assert [i.bbox for i in on_gpu.instances] == [i.bbox for i in on_cpu.instances]
        assert [(i.motif, i.rotation, i.mirror) for i in on_gpu.instances] == [
            (i.motif, i.rotation, i.mirror) for i in on_cpu.instances
        ]
        scores = zip(on_cpu.instances, on_gpu.instances, strict=True)
        assert all(abs(i.score - j.score) < 1e-3 for i, j in scores)


def test_bench_embed_reports_what_ran(built, tmp_path, capsys):
    report_path = tmp_path / "embed.json"
    command = ["bench", "embed", "--bundle", str(built / "bundle"), "--crops", "24"]
    assert florilege([*command, "--batch", "16", "--repeats", "2", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report == json.loads(capsys.readouterr().out)
    assert report["providers"] == ["CPUExecutionProvider"]
    assert (report["crops"], report["batch"], report["repeats"]) == (24, 16, 2)
    assert report["digest"] == load_bundle(built / "bundle").digest
    assert report["best_seconds"] <= report["median_seconds"]
    assert report["crops_per_second"] == pytest.approx(24 / report["best_seconds"], rel=0.01)
    assert report["machine"]["cores"] >= 1 and "gpus" not in report["machine"]


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here")
def test_bench_embed_refuses_providers_that_cannot_run(built, capsys):
    command = ["bench", "embed", "--bundle", str(built / "bundle")]
    assert florilege([*command, "--providers", "CUDAExecutionProvider"]) == 2
    assert "['CUDAExecutionProvider'] not available" in capsys.readouterr().err


DECOMPOSE_WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None  # from here on, `import torch` raises ImportError
from service.cli import main
sys.exit(main(["decompose", sys.argv[1], "--bundle", sys.argv[2], "--out", sys.argv[3]]))
"""


def test_decompose_runs_a_bundle_without_torch(built, tmp_path):
    """The whole decomposition with the learned descriptor, in a process that cannot import
    torch; the output names the bundle that made it."""
    out = tmp_path / "d.json"
    _python(DECOMPOSE_WITHOUT_TORCH, built / "pages" / "images", built / "bundle", out)
    decomposition = Decomposition.read(out)
    assert decomposition.model == load_bundle(built / "bundle").digest
    assert len(decomposition.pages) == 2
    assert sum(len(page.instances) for page in decomposition.pages) > 0


def test_decompose_refuses_a_tampered_bundle(copy, built, tmp_path, capsys):
    (copy / "embed.onnx").write_bytes(b"not a model")
    out = tmp_path / "d.json"
    code = florilege(
        ["decompose", str(built / "pages" / "images"), "--bundle", str(copy), "--out", str(out)]
    )
    assert code == 2
    assert "sha256" in capsys.readouterr().err
    assert not out.exists()


def test_the_service_decomposes_uploads_with_the_configured_bundle(built, app_config):
    """FLORILEGE_BUNDLE reaches the HTTP path: the upload is decomposed with the learned
    descriptor, loaded in this process on first use, and the answer names the bundle."""
    from service.app import create_app

    app = create_app(app_config | {"BUNDLE": str(built / "bundle")})
    try:
        page = next((built / "pages" / "images").iterdir())
        # Halved and re-encoded as JPEG: an upload under werkzeug's 500 kB stays in memory
        # instead of a spooled temporary file that the test client never closes.
        upload = io.BytesIO()
        with Image.open(page) as image:
            image.reduce(2).save(upload, format="JPEG", quality=85)
        assert upload.tell() < 500_000
        response = app.test_client().post(
            "/api/decompose", data={"image": (io.BytesIO(upload.getvalue()), "page.jpg")}
        )
        assert response.status_code == 200, response.json
        assert response.json["generator"]["model"] == load_bundle(built / "bundle").digest
        assert response.json["pages"][0]["instances"]
    finally:
        app.extensions["florilege"].runner.stop()
        app.extensions["florilege"].store.close()
