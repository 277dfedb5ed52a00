"""Loaded as a pytest plugin (``-p tests.env``) before pytest-django reads the settings:
test-only environment defaults. A variable already set (CI's DATABASE_URL) wins."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DJANGO_SECURE", "false")
# One key for the run and every manage.py it starts (qcluster workers check django-q2's task
# signatures with it); set, it also keeps manage.py from reading a developer's .env.local.
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x" * 40)
# A fixed test key; production keys come from ZHIMA_FIELD_KEYS or the generated key file.
os.environ.setdefault("ZHIMA_FIELD_KEYS", "eXhXGsv9fXajin3-lVgh4cMq5Z_UZyrQMIDGF910wds=")
os.environ.setdefault("ZHIMA_READ_TIMEOUT", "2")
os.environ.setdefault("ZHIMA_LEASE_READ_TIMEOUT", "2")
# The webhook tests' receivers listen on loopback (tests/webhooks/test_ssrf.py empties it).
os.environ.setdefault("ZHIMA_WEBHOOK_PRIVATE_NETWORKS", "127.0.0.0/8,::1")
# Keep this run's broker queue and cache keys apart from any other run on the same Redis.
os.environ.setdefault("Q_CLUSTER_NAME", f"zhima-test-{os.getpid()}")
os.environ.setdefault("CACHE_KEY_PREFIX", f"zhima-test-{os.getpid()}")
# pytest-xdist: its workers inherit the environment above from the main process; each keeps
# a queue, cache keys and a cache directory of its own (its tests clear the cache). pytest-django
# gives each worker its own test database.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    os.environ["Q_CLUSTER_NAME"] += "-" + WORKER
    os.environ["CACHE_KEY_PREFIX"] += "-" + WORKER
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ["CACHE_DIR"] = (
        (os.environ.get("CACHE_DIR") or os.path.join(root, "var", "cache")) + "-" + WORKER
    )
# The SQLite test database is a file (so that subprocesses such as qcluster can share it).
os.makedirs(os.path.join(os.path.dirname(os.path.dirname(__file__)), "var"), exist_ok=True)
