"""The store's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()


def create_tables(tables: sa.MetaData, engine: sa.Engine) -> None:
    """Create what is missing of ``tables``, also while other processes do the same."""
    # Another process (a sibling gunicorn worker, a Celery worker) may create a table between
    # our check and our CREATE. Each failed attempt means some table now exists, so checking
    # again progresses, and one attempt per table always suffices.
    for _ in range(len(tables.sorted_tables)):
        try:
            tables.create_all(engine)
            return
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            continue
    tables.create_all(engine)


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("done", sa.Integer, nullable=False, default=0),
    sa.Column("total", sa.Integer, nullable=False, default=0),
    sa.Column("errors", sa.Text, nullable=False, default="[]"),
    sa.Column("message", sa.Text),
    sa.Column("worker", sa.String(64)),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    sa.Column("heartbeat", sa.Float),
)
manifests = sa.Table(
    "manifests",
    metadata,
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("doc", sa.Text, nullable=False),
)
canvases = sa.Table(
    "canvases",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("canvas_id", sa.Text, nullable=False),
    sa.Column("manifest_url", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False, default=""),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
)
motifs = sa.Table(
    "motifs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("corpus", sa.String(32), nullable=False, index=True),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("parent", sa.String(64)),
    sa.Column("prototype", sa.LargeBinary),
)
instances = sa.Table(
    "instances",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("canvas_key", sa.String(32), nullable=False, index=True),
    sa.Column("motif", sa.String(64), nullable=False, index=True),
    sa.Column("x", sa.Integer, nullable=False),
    sa.Column("y", sa.Integer, nullable=False),
    sa.Column("w", sa.Integer, nullable=False),
    sa.Column("h", sa.Integer, nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("image_url", sa.Text, nullable=False),
    sa.Column("service_id", sa.Text),
    sa.Column("service_version", sa.Integer),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("rotation", sa.Integer, nullable=False),
    sa.Column("mirror", sa.Boolean, nullable=False),
    sa.Column("ornament", sa.String(64)),
)
corpora = sa.Table(
    "corpora",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("decomposition", sa.Text, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
# A collection's motif catalogue, grown book by book (``service/store/catalogues.py``). Its
# motifs are rows of ``motifs`` (corpus = the catalogue's key); here are what matching needs.
catalogues = sa.Table(
    "catalogues",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),  # the harvested source
    sa.Column("descriptor", sa.Text),  # what the views were made with; set by the first book
    # Bumped by each save; a save matched on an older version is refused (compare and set).
    sa.Column("version", sa.Integer, nullable=False),
)
catalogue_views = sa.Table(
    "catalogue_views",
    metadata,
    sa.Column("catalogue", sa.String(32), primary_key=True),
    sa.Column("motif", sa.String(64), primary_key=True),  # the id within the catalogue: m0007
    sa.Column("views", sa.LargeBinary, nullable=False),  # float32 (8, D): the eight views
)
# Which jobs add to a catalogue (a table of its own, so that older stores need no migration).
job_catalogues = sa.Table(
    "job_catalogues",
    metadata,
    sa.Column("job", sa.String(32), primary_key=True),
    sa.Column("catalogue", sa.String(32), nullable=False),
)
