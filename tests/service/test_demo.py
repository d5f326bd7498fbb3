"""The README's main command: the sample books served on loopback and annotated."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cli import main as florilege

REPO = Path(__file__).resolve().parents[2]


def test_demo_annotates_the_sample_collection(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FLORILEGE_DATA", str(tmp_path))
    assert florilege(["demo", "--manifests", str(REPO / "manifests")]) == 0
    out = capsys.readouterr().out
    assert "done, 6/6 canvases" in out
    instances = int(out.split(" vignette instances")[0].rsplit(" ", 1)[1])
    assert instances > 0
    assert (tmp_path / "florilege.sqlite3").is_file()


def test_demo_without_a_sample_site_is_a_clear_error(tmp_path, capsys) -> None:
    assert florilege(["demo", "--manifests", str(tmp_path)]) == 2
    assert "no sample site" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _no_stray_site():
    """The demo binds fixed ports; make sure it released them for whatever runs next."""
    yield
    import socket

    for port in (8182, 8183):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still served"
