"""``python -m wirechat``: the same commands as the ``wirechat`` script."""

import sys

from .cli import main

sys.exit(main())
