"""`python -m agent`: the `wxguard` command (used where console scripts are not installed)."""

from agent.cli import main

raise SystemExit(main())
