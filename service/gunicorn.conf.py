"""gunicorn settings: ``gunicorn -c service/gunicorn.conf.py 'service.app:create_app()'``.

Bind address and worker counts come from ``FLORILEGE_BIND``, ``FLORILEGE_WORKERS``,
``FLORILEGE_THREADS`` and ``FLORILEGE_TIMEOUT`` (read in service/config.py). The app is not
preloaded: every worker builds its own app after the fork, so onnxruntime sessions, database
connections and job threads are never shared across processes.
"""

from service.config import gunicorn_settings

_settings = gunicorn_settings()

bind = _settings["bind"]
workers = _settings["workers"]
threads = _settings["threads"]
timeout = _settings["timeout"]
worker_class = "gthread"
preload_app = False
accesslog = "-"
