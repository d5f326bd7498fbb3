"""Persistent store for jobs and results (SQLAlchemy: a SQLite file by default, or PostgreSQL)."""

from service.store.records import CanvasRecord as CanvasRecord
from service.store.records import MotifRecord as MotifRecord
from service.store.records import RunResult as RunResult
from service.store.store import Store as Store
