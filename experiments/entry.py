"""How an experiment script ends: a problem the user can fix (a bad input file, a missing
corpus, an agent not trained for the chunk size, a sweep value out of range) is one line
per problem and exit status 2, as ``duplexsim`` commands do; anything else is a bug and
keeps its traceback. Imported by name, as :mod:`provenance`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from duplexsim.cli import EXIT_INTERRUPTED, report
from duplexsim.errors import DuplexsimError


def run_main(main: Callable[[], int], name: str) -> int:
    """``main()``'s exit status; a :class:`DuplexsimError` or a known OS error (a missing
    file, a full disk) printed one line per problem instead of a traceback (``name``: the
    script, named when it is interrupted)."""
    try:
        return main()
    except (DuplexsimError, OSError) as e:
        status = report(e)
        if status is None:
            raise
        return status
    except KeyboardInterrupt:  # every output is written atomically: a rerun resumes
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


__all__ = ["run_main"]
