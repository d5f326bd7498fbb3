"""Several processes opening one new store at once all find its tables (store/tables.py)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import sqlalchemy as sa

from service.store import Store
from service.store.tables import metadata


def test_processes_opening_a_new_store_together_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    start = multiprocessing.get_context("fork").Barrier(8)

    def open_at_once() -> None:
        start.wait()  # all create the tables in the same instant, as sibling workers do
        Store(url)

    processes = [multiprocessing.get_context("fork").Process(target=open_at_once) for _ in range(8)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)

    assert [p.exitcode for p in processes] == [0] * 8
    tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
    assert set(metadata.tables) <= tables
