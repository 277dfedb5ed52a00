"""The shipped deployment files checked by the tools that read them: ``nginx -t`` on the
rendered template, ``systemd-analyze verify`` on the units, ``promtool`` on the alert rules;
the environment example against README's configuration table and ``settings.py``; README's
"Deploy on a server" against the repository."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from .tools import (
    DEPLOY,
    NGINX_VARIABLES,
    ROOT,
    TEMPLATE,
    env_file,
    nginx_main_conf,
    render_template,
    self_signed,
    tool,
)

UNITS = sorted((DEPLOY / "systemd").glob("zhima-*.*"))
APP = "/opt/zhima-console"  # where the units and README put the checkout
EXAMPLE = DEPLOY / "zhima.env.example"
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Table rows a server does not set: the development server's ports and the simulator's knobs.
NOT_FOR_A_SERVER = {"PORT", "ZHIMA_SIM_PORT", "ZHIMA_SIM_*", "SQLITE_BUSY_TIMEOUT"}


def section(title: str) -> str:
    text = README[README.index(f"\n## {title}\n") :]
    end = text.find("\n## ", 5)
    return text if end < 0 else text[:end]


def sh_blocks(text: str) -> str:
    return "\n".join(re.findall(r"```sh\n(.*?)```", text, re.S))


def readme_table_variables() -> set[str]:
    names: set[str] = set()
    for row in section("Configuration").splitlines():
        if not row.startswith("| `"):
            continue
        cell = row.split("|")[1]
        for name in re.findall(r"`([A-Z][A-Z0-9_]*\*?)`", cell):
            names.add(name)
        if "(or `_FILE`)" in cell:
            names.add(re.search(r"`([A-Z0-9_]+)`", cell).group(1) + "_FILE")
    return names


def settings_reads() -> set[str]:
    """Every environment variable ``settings.py`` reads (a string setting also as ``_FILE``)."""
    text = (ROOT / "zhima_site" / "settings.py").read_text()
    names = set(re.findall(r'(?:env_\w+|os\.environ\.get)\(\s*"([A-Z][A-Z0-9_]*)"', text))
    strings = set(re.findall(r'env_(?:str|list)\(\s*"([A-Z][A-Z0-9_]*)"', text))
    return names | {f"{n}_FILE" for n in strings}


# -- nginx ------------------------------------------------------------------------------------


def test_the_template_uses_exactly_its_variables_and_no_machine_path():
    text = TEMPLATE.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(NGINX_VARIABLES)
    assert not re.search(r"\$ZHIMA_", text)  # every one braced, so envsubst sees it
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            body = path.read_text()
            assert not re.search(r"/(work|home|root|tmp|Users)/", body), path


def test_nginx_accepts_the_rendered_template(tmp_path):
    nginx = tool("nginx")
    cert, key = self_signed(tmp_path)
    rendered = render_template(
        {
            "ZHIMA_SERVER_NAME": "console.example.com",
            "ZHIMA_HTTP_PORT": "8580",
            "ZHIMA_HTTPS_PORT": "8543",
            "ZHIMA_UPSTREAM": "127.0.0.1:8000",
            "ZHIMA_TLS_CERT": str(cert),
            "ZHIMA_TLS_KEY": str(key),
        }
    )
    assert "${" not in rendered and "console.example.com" in rendered
    assert "$remote_addr" in rendered and "$http_host" in rendered  # nginx's own: untouched
    site = tmp_path / "zhima.conf"
    site.write_text(rendered)
    conf = nginx_main_conf(tmp_path, site)
    r = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "test is successful" in r.stderr, r.stderr
    broken = tmp_path / "broken.conf"  # the check can fail: an unknown directive
    broken.write_text(rendered.replace("proxy_buffering off;", "proxy_bufering off;"))
    conf = nginx_main_conf(tmp_path, broken)
    r = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "proxy_bufering" in r.stderr


def test_the_long_polls_outlive_their_longest_wait_and_tls_is_12_or_later():
    text = TEMPLATE.read_text()
    api = re.search(r"location /api/ \{(.*?)\}", text, re.S).group(1)
    assert "proxy_buffering off;" in api
    read = int(re.search(r"proxy_read_timeout (\d+)s;", api).group(1))
    assert read > 120  # the API's largest wait (leases/api/views.py: le=120)
    assert re.search(r"ssl_protocols TLSv1\.2 TLSv1\.3;", text)


# -- systemd ----------------------------------------------------------------------------------


def units_at(dest: Path, app: Path) -> list[Path]:
    """The units as they would be installed, with the checkout at ``app`` instead of
    /opt/zhima-console (``systemd-analyze verify`` checks that ExecStart's programs exist)."""
    out = []
    for unit in UNITS:
        copy = dest / unit.name
        copy.write_text(unit.read_text().replace(APP, str(app)))
        out.append(copy)
    return out


def test_the_units_pass_systemd_analyze_verify(tmp_path):
    analyze = tool("systemd-analyze")
    app = tmp_path / "app"
    (app / ".venv" / "bin").mkdir(parents=True)
    for program in ("python", "gunicorn"):  # this checkout's, as the server's .venv holds
        (app / ".venv" / "bin" / program).symlink_to(Path(sys.executable).with_name(program))
    units = units_at(tmp_path, app)
    assert {u.name for u in units} == {
        "zhima-web.service",
        "zhima-worker.service",
        "zhima-backup.service",
        "zhima-backup.timer",
    }
    r = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
    typo = tmp_path / "zhima-web.service"  # the check can fail: a misspelt setting
    typo.write_text(typo.read_text().replace("ProtectSystem=", "ProtectSystm="))
    r = subprocess.run(
        [analyze, "verify", "--man=no", str(typo)], capture_output=True, text=True, timeout=120
    )
    assert "ProtectSystm" in r.stdout + r.stderr


def unit(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize(
    "name", ["zhima-web.service", "zhima-worker.service", "zhima-backup.service"]
)
def test_the_services_are_unprivileged_and_hardened(name):
    u = unit(name)
    assert u["User"] == ["zhima"] and u["Group"] == ["zhima"]
    assert u["EnvironmentFile"] == ["/etc/zhima/zhima.env"]
    assert u["WorkingDirectory"] == [APP]
    for key, value in {
        "NoNewPrivileges": "true",
        "ProtectSystem": "strict",
        "ProtectHome": "true",
        "PrivateTmp": "true",
        "PrivateDevices": "true",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert u[key] == [value], key
    assert u["StateDirectory"]  # the one writable place: /var/lib/zhima
    if name != "zhima-backup.service":
        assert u["Restart"] == ["on-failure"]


def gunicorn_graceful_timeout(env: dict[str, str]) -> int:
    out = subprocess.run(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--print-config",
            "-c",
            "python:zhima_site.gunicorn_conf",
            "zhima_site.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return int(re.search(r"^graceful_timeout\s+= (\d+)$", out, re.M).group(1))


def test_the_stop_timeouts_follow_gunicorns_graceful_timeout(tmp_path):
    """With the shipped environment (its upstream timeouts), systemd waits gunicorn's
    graceful timeout and 10 s more before it kills a service it stops."""
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "PATH", "LANG")}
    env = {**keep, **env_file(EXAMPLE), "DJANGO_SECRET_KEY": "x" * 50}
    env.pop("DJANGO_SECRET_KEY_FILE")
    env["ZHIMA_FIELD_KEYS_FILE"] = str(tmp_path / "field-keys")
    graceful = gunicorn_graceful_timeout(env)
    assert graceful == 90  # the defaults: README "The worker timeout"
    for name in ("zhima-web.service", "zhima-worker.service"):
        assert unit(name)["TimeoutStopSec"] == [str(graceful + 10)], name
        assert unit(name)["KillMode"] == ["mixed"]


def test_the_web_unit_runs_readmes_gunicorn_command():
    readme = README.replace("\\\n", " ")
    (line,) = [line for line in readme.splitlines() if "gunicorn -c " in line]
    command = line.split("#", 1)[0].split()
    (exec_start,) = unit("zhima-web.service")["ExecStart"]
    assert exec_start.split() == [f"{APP}/{command[0]}", *command[1:]]
    (worker,) = unit("zhima-worker.service")["ExecStart"]
    assert worker == f"{APP}/.venv/bin/python manage.py qcluster"
    assert "manage.py backup_db" in unit("zhima-backup.service")["ExecStart"][0]
    assert unit("zhima-backup.timer")["Persistent"] == ["true"]


# -- the environment ------------------------------------------------------------------------------


def test_the_environment_example_matches_readmes_configuration_table():
    table = readme_table_variables()
    assert {"DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FILE", "TRUSTED_PROXIES"} <= table
    lines = EXAMPLE.read_text().splitlines()
    named: dict[str, int] = {}
    for i, line in enumerate(lines):
        m = re.match(r"^(?:# )?([A-Z][A-Z0-9_]*)=", line)
        if m:
            named[m.group(1)] = i
    missing = table - NOT_FOR_A_SERVER - set(named)
    assert not missing, f"in README's table, not in {EXAMPLE.name}: {sorted(missing)}"
    unknown = set(named) - table
    assert not unknown, f"in {EXAMPLE.name}, not in README's table: {sorted(unknown)}"
    for name, i in named.items():  # each with its comment: the nearest line above that is
        j = i - 1  # not a variable explains it (a section rule does not count)
        while re.match(r"^(?:# )?[A-Z][A-Z0-9_]*=", lines[j]):
            j -= 1
        assert lines[j].startswith("# ") and not lines[j].startswith("# --"), name
    assert set(env_file(EXAMPLE)) <= settings_reads()


def test_the_environment_example_passes_check_deploy(tmp_path):
    """The example as a whole is a valid production configuration (only the database, the
    key files and the missing Redis are this machine's)."""
    env = {k: v for k, v in os.environ.items() if k in ("HOME", "PATH", "LANG")}
    env.update(env_file(EXAMPLE))
    (tmp_path / "secret-key").write_text(secrets.token_urlsafe(50))
    env.update(
        DJANGO_SECRET_KEY_FILE=str(tmp_path / "secret-key"),
        ZHIMA_FIELD_KEYS_FILE=str(tmp_path / "etc" / "field-keys"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    r = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "no issues (0 silenced)" in r.stdout + r.stderr, r.stderr
    assert (tmp_path / "etc" / "field-keys").stat().st_mode & 0o077 == 0


# -- Prometheus ----------------------------------------------------------------------------------


def test_promtool_checks_the_rules_and_runs_their_unit_tests():
    promtool = tool("promtool")
    rules = DEPLOY / "prometheus"
    check = subprocess.run(
        [promtool, "check", "rules", "alerts.yml"],
        cwd=rules,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr
    test = subprocess.run(
        [promtool, "test", "rules", "alerts.test.yml"],
        cwd=rules,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr
    alerts = set(re.findall(r"^\s+- alert: (\w+)$", (rules / "alerts.yml").read_text(), re.M))
    tested = set(re.findall(r"alertname: (\w+)$", (rules / "alerts.test.yml").read_text(), re.M))
    assert alerts == tested and len(alerts) >= 7


def test_the_rules_name_only_metrics_the_console_exposes(client, db, settings):
    from prometheus_client.parser import text_string_to_metric_families

    settings.METRICS_TOKEN = "rules-token"
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer rules-token").content.decode()
    exposed = set()
    for family in text_string_to_metric_families(text):
        exposed.add(family.name)
        exposed.add(family.name + ("_total" if family.type == "counter" else ""))
    named = set(re.findall(r"\b(zhima_\w+)", (DEPLOY / "prometheus" / "alerts.yml").read_text()))
    assert named and named <= exposed, sorted(named - exposed)


# -- README "Deploy on a server" ----------------------------------------------------------------


def test_readmes_deploy_section_names_files_that_exist_and_settings_that_are_read():
    text = section("Deploy on a server")
    commands = sh_blocks(text)
    assert "deploy/nginx/zhima.conf.template" in commands and "systemctl" in commands
    files = set(
        re.findall(r"(?<![\w/])((?:deploy|zhima_site|accounts|leases|\.ci)/[\w./-]+\w)", text)
    )
    files |= {"manage.py"} if "manage.py" in text else set()
    assert len(files) >= 8
    for name in files:
        assert (ROOT / name).exists(), name
    read = settings_reads()
    set_here = set(re.findall(r"(?:^|[\s'\"^])([A-Z][A-Z0-9_]{2,})=", commands, re.M))
    set_here -= set(NGINX_VARIABLES)  # the template's, read by envsubst
    # read by .ci/lib.sh, by uv and by pipx
    set_here -= {"PYTHON", "UV_PYTHON_INSTALL_DIR", "PIPX_HOME", "PIPX_BIN_DIR"}
    assert set_here, "the section sets settings"
    assert set_here <= read, sorted(set_here - read)
    for name in NGINX_VARIABLES:
        assert name in commands
    used = set(re.findall(r"zhima-manage (\w+)", commands))
    available = subprocess.run(
        [sys.executable, "manage.py", "help", "--commands"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    assert used and used <= set(available), sorted(used - set(available))
