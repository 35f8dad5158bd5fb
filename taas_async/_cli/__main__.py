"""``python -m taas_async._cli``: the ``taas`` command, where the venv's scripts are not on PATH."""

import sys

from taas_async._cli import main

sys.exit(main())
