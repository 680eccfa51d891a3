"""``python -m scisuite`` is the same as the ``sci`` command."""

import sys

from scisuite.cli import main

sys.exit(main())
