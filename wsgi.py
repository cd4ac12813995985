"""What gunicorn serves: ``gunicorn -c config/gunicorn.conf.py wsgi:app``."""

import sys
from pathlib import Path

# platform/ is a source root; put it on the path when the project is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent / "platform"))

from nvsi import create_app  # noqa: E402

app = create_app()
