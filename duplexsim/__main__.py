"""``python -m duplexsim ...``: the ``duplexsim`` command (:func:`duplexsim.cli.main`)."""

from duplexsim.cli import main

raise SystemExit(main())
