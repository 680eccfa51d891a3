"""``sci``: one module per verb over :mod:`scisuite.api` (parse flags, call the API, print).

Exit codes: 0 success, 1 the run failed, 2 usage error (bad flags, unknown or unbuilt
domain, a verb or data set the domain does not offer).
"""

from scisuite.cli.main import main

__all__ = ["main"]
