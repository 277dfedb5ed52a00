"""Strict helpers that read settings from the environment (no Django import)."""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class SettingError(ValueError):
    pass


def env_str(name: str, default: str = "") -> str:
    """A string; ``NAME_FILE`` names a file to read it from (for secrets)."""
    path = os.environ.get(name + "_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            msg = f"{name}_FILE names {path!r}, which cannot be read: {exc.strerror}"
            raise SettingError(msg) from None
    return os.environ.get(name) or default  # set but empty: the default


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SettingError(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingError(f"{name} must be a whole number, not {raw!r}") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingError(f"{name} must be a number, not {raw!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in env_str(name, default).split(",") if part.strip()]


def env_networks(name: str) -> list[str]:
    """Addresses or networks (``10.0.0.0/8``), comma-separated; unset or empty: none."""
    entries = [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise SettingError(f"{name}: {entry!r} is neither an address nor a network") from None
    return entries


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 when it does not exist yet; take group and other
    access away from one that does (a database or key file is for its owner only)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            try:
                info = p.stat()
                if info.st_mode & 0o077 and info.st_uid == os.geteuid():
                    p.chmod(stat.S_IMODE(info.st_mode) & 0o700)
            except OSError:
                pass  # not there, or not ours: nothing to take away
    except OSError:
        pass  # a directory that does not exist yet: the database's own error says so
    else:
        os.close(fd)
