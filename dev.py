#!/usr/bin/env python3
"""The two commands of the quick start; needs nothing but Python 3.11+.

    python3 dev.py run     virtual env + install, migrate, demo data, gunicorn on 127.0.0.1:8000
    python3 dev.py test    virtual env + install with test extras, the whole test suite

Extra arguments after ``test`` go to pytest (``python3 dev.py test -k employers``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("NVSI_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def ensure_env(extras: str) -> None:
    """Create the virtual env and (re)install the project when pyproject.toml changed."""
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed")
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".nvsi-installed{extras}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"installing the platform{extras} ...", flush=True)
    run([PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f".{extras}"])
    stamp.write_text(digest)


def run(cmd, env=None) -> None:
    subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env, check=True)


def serve() -> None:
    ensure_env("")
    env = dict(os.environ)
    # Plain http on loopback: the session cookie cannot be "Secure" here (it is in production).
    env.setdefault("NVSI_SESSION_COOKIE_SECURE", "false")
    env.setdefault("NVSI_REMEMBER_COOKIE_SECURE", "false")
    run([BIN / "nvsi", "migrate"], env)
    run([BIN / "nvsi", "demo"], env)
    print("serving on http://127.0.0.1:8000 (Ctrl+C stops)", flush=True)
    os.chdir(ROOT)
    os.execve(str(BIN / "gunicorn"), ["gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"], env)


def test(args: list[str]) -> None:
    ensure_env("[test]")
    os.chdir(ROOT)
    os.execv(str(PY), [str(PY), "-m", "pytest", *args])


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        sys.exit(__doc__)
    if sys.argv[1] == "run":
        serve()
    else:
        test(sys.argv[2:])


if __name__ == "__main__":
    main()
