"""`python -m installer`: the same as `wxguard-installer`."""

from installer.cli import main

raise SystemExit(main())
