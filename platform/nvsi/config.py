"""Configuration: defaults from config/defaults.toml, then NVSI_* environment variables, then
the settings a caller (tests) passes to the factory. Secrets come only from the environment."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

from flask import Flask

#: The project's root folder (platform/nvsi/config.py → three levels up).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULTS_FILE = PROJECT_ROOT / "config" / "defaults.toml"
ENV_PREFIX = "NVSI"


def load_config(app: Flask, overrides: dict | None = None) -> None:
    """Fill ``app.config`` in order: defaults file, environment, overrides; derive the rest."""
    with DEFAULTS_FILE.open("rb") as fh:
        app.config.from_mapping(tomllib.load(fh))
    app.config.from_prefixed_env(ENV_PREFIX)
    if overrides:
        app.config.from_mapping(overrides)

    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'nvsi.sqlite'}"
    url = app.config["DATABASE_URL"]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.setdefault("TENANT_DIR", str(Path(app.instance_path) / "tenants"))
    if url.startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"check_same_thread": False}}
    else:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_pre_ping": True,
            "pool_recycle": app.config["DATABASE_POOL_RECYCLE"],
            "pool_size": app.config["DATABASE_POOL_SIZE"],
            "max_overflow": app.config["DATABASE_MAX_OVERFLOW"],
        }
    # The secret key decides who is logged in: only from the environment, or generated once for
    # the embedded SQLite default and kept in the instance folder (which is never committed).
    # The personal-data key (BSN, IBAN): from the environment, or generated for the embedded default.
    if not app.config.get("DATA_KEY"):
        if not url.startswith("sqlite"):
            raise RuntimeError("NVSI_DATA_KEY must be set when using PostgreSQL")
        app.config["DATA_KEY"] = _instance_secret(Path(app.instance_path) / "data_key", _fernet_key)
    if not app.config.get("SECRET_KEY"):
        if not url.startswith("sqlite"):
            raise RuntimeError("NVSI_SECRET_KEY must be set when using PostgreSQL")
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")


def _fernet_key() -> str:
    from nvsi.crypto import generate_key

    return generate_key()


def _instance_secret(path: Path, make=lambda: secrets.token_urlsafe(48)) -> str:
    """Read a generated secret of the embedded default, creating it (mode 0600) if absent."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker was first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
