"""Compatibility module: the code lives in the ``localcluster`` package next to this file.

``import local_cluster as lc`` (tests/cluster/conftest.py, bench/) and
``python3 scripts/local_cluster.py ...`` keep working; see localcluster/__init__.py for the
command line, the library API and the environment variables.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # loaded by file path (importlib) rather than from scripts/
    sys.path.insert(0, _HERE)

from localcluster import *  # noqa: E402, F403
from localcluster import __all__  # noqa: E402, F401

if __name__ == "__main__":
    sys.exit(main())  # noqa: F405
