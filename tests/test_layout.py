"""The layout the design fixes: platform/ is a source root, never a package."""

import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_platform_folder_is_not_a_package():
    assert (ROOT / "platform" / "nvsi" / "__init__.py").exists()
    assert not (ROOT / "platform" / "__init__.py").exists(), (
        "platform/__init__.py shadows the standard library's platform module"
    )


def test_stdlib_platform_module_inside_the_app(tmp_path):
    import platform

    from nvsi import create_app

    create_app({"INSTANCE_PATH": str(tmp_path)})
    # The project root is on sys.path too (pytest's pythonpath), yet `platform` is the stdlib.
    assert str(ROOT) in sys.path
    assert Path(platform.__file__).parent == Path(importlib.import_module("os").__file__).parent
    # The same answer as a clean interpreter (-I: no project paths) gives.
    clean = subprocess.run(
        [sys.executable, "-I", "-c", "import platform; print(platform.system())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert platform.system() == clean
    import uuid  # uuid imports platform at import time: it must work

    assert uuid.uuid4()
