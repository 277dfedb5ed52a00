"""Production settings: check --deploy clean, CSP strict, secure cookies, HSTS."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROD = {
    "DJANGO_SECRET_KEY": "x" * 20 + "production-secret-key-of-enough-length-1234567890",
    "DJANGO_ALLOWED_HOSTS": "console.example.com",
    "DJANGO_DEBUG": "false",
    "DJANGO_ADMIN_PATH": "ops-admin/",
}


def run(*args, env=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, **PROD, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_production_settings():
    r = run("manage.py", "check", "--deploy")
    assert r.returncode == 0, r.stderr
    assert "no issues (0 silenced)" in r.stdout + r.stderr
    assert "WARNING" not in r.stdout + r.stderr.replace("INFO", "")


def test_production_settings_are_strict():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "from django.urls import reverse; "
        "print(json.dumps({'csp': {k: list(map(str, v)) for k, v in s.SECURE_CSP.items()}, "
        "'secure': [s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT], "
        "'hsts': s.SECURE_HSTS_SECONDS, 'age': s.SESSION_COOKIE_AGE, "
        "'admin': reverse('admin:index')}))"
    )
    r = run("-c", code, env={"DJANGO_SETTINGS_MODULE": "zhima_site.settings"})
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout.strip().splitlines()[-1])
    flat = json.dumps(data["csp"])
    assert "unsafe-inline" not in flat and "unsafe-eval" not in flat
    assert data["csp"]["script-src"] == ["'self'"]
    assert data["secure"] == [True, True, True]
    assert data["hsts"] >= 31536000 and 0 < data["age"] <= 86400
    assert data["admin"] == "/ops-admin/"


def test_without_a_secret_key_production_refuses_to_start():
    r = run("manage.py", "check", env={"DJANGO_SECRET_KEY": ""})
    assert r.returncode != 0 and "DJANGO_SECRET_KEY must be set" in r.stderr


def test_static_files_collect_with_the_production_storage(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings; "
        f"settings.STATIC_ROOT = {str(tmp_path)!r}; "
        "from django.core.management import call_command; "
        "call_command('collectstatic', '--noinput', verbosity=0)"
    )
    r = run("-c", code, env={"DJANGO_SETTINGS_MODULE": "zhima_site.settings"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "staticfiles.json").exists()


def manage_with_local_file(path, *args, env=None):
    """``manage.py ARGS`` with its local settings file at ``path``, on a bare environment."""
    code = (
        "import sys, pathlib, manage; manage.LOCAL_SETTINGS = pathlib.Path(sys.argv[1]); "
        "sys.argv = ['manage.py', *sys.argv[2:]]; manage.main()"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "-c", code, str(path), *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_reads_the_local_settings_file_and_the_environment_wins(tmp_path):
    local = tmp_path / "local.env"
    assert "must be set" in manage_with_local_file(local, "check").stderr  # no file: refused
    local.write_text("# written by .ci/start\nDJANGO_DEBUG=true\nDJANGO_SECRET_KEY=k-1234\n")
    r = manage_with_local_file(local, "check")
    assert r.returncode == 0, r.stderr
    local.write_text("DJANGO_DEBUG=true\n")
    r = manage_with_local_file(local, "check", env={"DJANGO_DEBUG": "false"})
    assert r.returncode != 0 and "DJANGO_SECRET_KEY must be set" in r.stderr
    # A deployment's environment (its own key) ignores the file: never debug by accident.
    deployment = {k: v for k, v in PROD.items() if k != "DJANGO_DEBUG"}
    r = manage_with_local_file(local, "check", "--deploy", env=deployment)
    assert r.returncode == 0 and "no issues (0 silenced)" in r.stdout + r.stderr, r.stderr


def test_the_local_settings_file_is_ignored_by_git():
    r = subprocess.run(["git", "check-ignore", "-q", ".env.local"], cwd=ROOT, timeout=30)
    assert r.returncode == 0


def test_gunicorn_serves_with_the_projects_config_in_production_settings(tmp_path):
    """README's team command: gunicorn with ``zhima_site.gunicorn_conf`` (uvicorn workers,
    derived timeouts) starts in production settings and answers a probe."""
    import socket
    import time

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env = {**base, **PROD, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    command = [str(gunicorn), "-c", "python:zhima_site.gunicorn_conf"]
    command += ["zhima_site.asgi:application", "-b", f"127.0.0.1:{port}", "-w", "1"]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline, answer = time.monotonic() + 30, None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except requests.ConnectionError:
                time.sleep(0.2)
        assert (
            answer is not None and answer.status_code == 200 and answer.json() == {"status": "ok"}
        )
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert "uvicorn" in err.lower() or "Booting worker" in err
