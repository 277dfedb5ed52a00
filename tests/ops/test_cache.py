"""The embedded default's shared cache (``zhima_site.cache``): private, keeps its live entries,
and its ``add`` and ``incr`` hold across processes."""

from __future__ import annotations

import multiprocessing
import stat

from zhima_site.cache import PrivateDiskCache


def make(tmp_path) -> PrivateDiskCache:
    return PrivateDiskCache(str(tmp_path / "cache"), {"DATABASE_TIMEOUT": 1.0})


def test_the_directory_is_the_owners_only(tmp_path):
    (tmp_path / "cache").mkdir(mode=0o755)
    cache = make(tmp_path)
    cache.set("session", {"cookies": "secret"}, 60)
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700


def test_a_thousand_stored_answers_evict_no_live_entry(tmp_path):
    """Every lease stores its answer for a day: past a count of entries, no wait slot, rate
    counter or upstream session may be dropped to make room (Django's file cache culls a
    third of its entries at random once it holds 300)."""
    cache = make(tmp_path)
    cache.add("api-wait:1:0", {"owner": "a"}, 60)
    cache.add("api-rate:1:0", 0, 60)
    for n in range(1000):
        cache.set(f"api-answer:{n}", {"body": "x" * 200}, 24 * 3600)
    cache.incr("api-rate:1:0")
    assert cache.get("api-wait:1:0") == {"owner": "a"}
    assert cache.get("api-rate:1:0") == 1
    assert len(cache.get_many([f"api-answer:{n}" for n in range(1000)])) == 1000


def _race(directory: str, start, wins) -> None:
    cache = PrivateDiskCache(directory, {"DATABASE_TIMEOUT": 1.0})
    start.wait()
    won = sum(1 for n in range(200) if cache.add(f"slot:{n}", 1, 60))
    for _ in range(200):
        cache.incr("count")
    wins.put(won)


def test_add_and_incr_hold_across_processes(tmp_path):
    """Four processes add the same 200 keys and count to 800 at once: each key is won by one
    process, and no increment is lost."""
    cache = make(tmp_path)
    cache.set("count", 0, 60)
    ctx = multiprocessing.get_context("fork")
    start, wins = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_race, args=(str(tmp_path / "cache"), start, wins)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sum(wins.get(timeout=5) for _ in procs) == 200
    assert cache.get("count") == 800
