"""`python -m fastnews` runs the command-line interface (the same as the `fastnews` script)."""

import sys

from fastnews_cli.main import main

sys.exit(main())
