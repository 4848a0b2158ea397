"""``python -m skreid.cli``: the ``skreid`` command."""

import sys

from skreid.cli import main

sys.exit(main())
