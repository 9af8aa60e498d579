"""Lets ``python -m ga4clone`` stand in for the ``ga4clone`` command."""

from ga4clone.cli import main

raise SystemExit(main())
