"""Several processes opening one new store at once all find its tables (store/tables.py)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from service.store import Store
from service.store.tables import metadata

PROCESSES = 8


def _open_at_once(url: str, start: Any) -> None:
    start.wait(timeout=60)  # all create the tables in the same instant, as sibling workers do
    Store(url)


def test_processes_opening_a_new_store_together_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    # Spawned, not forked: the test process runs server threads whose locks a fork would copy.
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    processes = [context.Process(target=_open_at_once, args=(url, start)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [p.exitcode for p in processes] == [0] * PROCESSES
    tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
    assert set(metadata.tables) <= tables
