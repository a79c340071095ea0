"""`python -m wizard` runs the same command line as `pgmigrate-wizard`."""

from wizard.cli import main

raise SystemExit(main())
