"""The TypeScript kit, playwright-zhima, against a live console (uvicorn, the poller in a
qcluster, the simulator) in Chromium: its types match the live OpenAPI document, its own specs
pass (a sign-up page, first and second codes, two numbers in a test), a failing test still
releases its numbers, and the README's walk-through works as written — with the simulator's
ledger as the check that every number went back."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .node import KIT, ROOT, ensure_built, kit_env, npm, playwright_test

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="session")
def built_kit():
    timings = ensure_built()
    print("playwright-zhima: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return KIT


@pytest.fixture
def signup_app(sim):
    """The example app under test: its "Send code" texts a code through the simulator."""
    from tests.e2e.example.test_signup import SignupApp

    app = SignupApp(sim.root.rstrip("/"))
    yield app
    app.server.shutdown()
    app.server.server_close()


def kit_run_env(console, token, tmp_path, **kw):
    return {
        "ZHIMA_API_URL": console.url,
        "ZHIMA_API_TOKEN": token,
        "ZHIMA_ITEM": "1001",
        "ZHIMA_SIM_URL": console.sim.root,
        "ZHIMA_REPORT": str(tmp_path / "report.json"),
        **kw,
    }


def test_the_types_match_the_live_schema(live_web, built_kit, tmp_path):
    """``npm run gen`` from the live console's /api/v1/openapi.json gives the committed
    src/schema.ts byte for byte (the kit and the API cannot drift apart)."""
    out = tmp_path / "schema.ts"
    r = npm("run", "gen", env=kit_env(ZHIMA_API_URL=live_web.url, ZHIMA_SCHEMA_OUT=str(out)))
    assert r.returncode == 0, r.stdout + r.stderr
    committed = (KIT / "src" / "schema.ts").read_text()
    assert out.read_text() == committed, (
        "src/schema.ts differs from the live schema: run `npm run gen` in kits/playwright-zhima "
        "against a running console and commit the result"
    )


def test_the_kit_specs_pass_and_every_number_is_released(
    live_console, built_kit, signup_app, tmp_path
):
    from leases.models import Lease

    console = live_console
    env = kit_run_env(
        console, console.token(), tmp_path, ZHIMA_RUN_ID="pw-1", SIGNUP_URL=signup_app.url
    )
    r = playwright_test(KIT, env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    stats = r.report["stats"]
    assert (stats["expected"], stats["unexpected"], stats["skipped"]) == (6, 0, 1), out

    leases = list(Lease.objects.filter(tag__startswith="pw-1 "))
    titles = sorted(lease.tag.removeprefix("pw-1 ") for lease in leases)
    assert titles == sorted(
        [
            "codes.spec.ts › a single-SMS item says why no second code comes",
            "codes.spec.ts › an item that receives several SMS › a second code",
            "codes.spec.ts › release() by hand, then the teardown has nothing left to do",
            "codes.spec.ts › the first code",
            "codes.spec.ts › two numbers › in one test",
            "codes.spec.ts › two numbers › in one test",
            "signup.spec.ts › sign up with an SMS code",
        ]
    )
    second = next(x for x in leases if x.tag.endswith("a second code"))
    assert [m.code for m in second.messages.order_by("id")] == ["111111", "222222", "333333"]
    signup = next(x for x in leases if x.tag.endswith("sign up with an SMS code"))
    assert signup.messages.get().code == signup_app.codes[signup.phone]
    # Every number went back upstream: the simulator holds none, its ledger has each one.
    assert console.wait_all_released() == []
    ledger = console.ledger()
    assert sorted(e["phoneNo"] for e in ledger) == sorted(x.phone for x in leases)
    assert {e["ended"] for e in ledger} == {"released"}


def test_a_failing_test_still_releases_its_numbers(live_console, built_kit, tmp_path):
    from leases.models import Lease

    console = live_console
    env = kit_run_env(console, console.token(), tmp_path, ZHIMA_RUN_ID="pw-fail",
                      ZHIMA_FAILING_DEMO="1")  # fmt: skip
    r = playwright_test(KIT, env, "failing.spec.ts")
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "the sign-up page is broken" in out, out
    assert r.report["stats"]["unexpected"] == 1
    leases = list(Lease.objects.filter(tag="pw-fail failing.spec.ts › the sign-up page is broken"))
    assert len(leases) == 2
    assert console.wait_all_released() == []
    ledger = console.ledger()
    assert sorted(e["phoneNo"] for e in ledger) == sorted(x.phone for x in leases)
    assert {e["ended"] for e in ledger} == {"released"}


def readme_blocks() -> dict[str, str]:
    """The README's walk-through blocks, by the name in the comment above each."""
    text = (KIT / "README.md").read_text()
    found = re.findall(r"<!-- walk-through: (\S+) -->\n```\w+\n(.*?)```", text, re.S)
    return dict(found)


def test_the_readme_walk_through_as_written(live_console, built_kit, signup_app, tmp_path):
    """In a fresh folder: the README's install commands (the checkout's path for PATH), its
    config and spec files, and ``npx playwright test``."""
    from leases.models import Lease

    console = live_console
    blocks = readme_blocks()
    assert set(blocks) == {"install", "playwright.config.ts", "tests/signup.spec.ts", "run"}
    env = kit_run_env(console, console.token(), tmp_path, ZHIMA_RUN_ID="readme",
                      SIGNUP_URL=signup_app.url, npm_config_prefer_offline="true")  # fmt: skip
    install = blocks["install"].replace("PATH/", f"{ROOT}/")
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", install], cwd=tmp_path,
                       env=kit_env(**env), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    project = tmp_path / "signup-tests"
    installed = project / "node_modules" / "playwright-zhima"
    assert installed.is_dir() and not installed.is_symlink()
    assert (installed / "dist" / "index.js").is_file()
    for name in ("playwright.config.ts", "tests/signup.spec.ts"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(blocks[name])
    run_line = blocks["run"].strip().splitlines()[-1]
    assert run_line == "npx playwright test"
    r = playwright_test(project, env)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr
    lease = Lease.objects.get(tag="readme signup.spec.ts › sign up with an SMS code")
    assert lease.messages.get().code == signup_app.codes[lease.phone]
    assert console.wait_all_released() == []
    shutil.rmtree(project / "node_modules", ignore_errors=True)


def test_a_configuration_error_is_one_line(live_web, built_kit, tmp_path):
    console = live_web
    env = kit_run_env(console, "zk_not-a-token", tmp_path, ZHIMA_RUN_ID="pw-conf")
    r = playwright_test(KIT, env, "codes.spec.ts", "-g", "the first code")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "playwright-zhima: ZHIMA_API_TOKEN is refused by the console at" in out, out
    assert console.sim.leases() == []
