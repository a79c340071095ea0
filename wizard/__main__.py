"""`python -m wizard` runs the same command line as `pgmigrate-wizard`."""

from wizard.cli.main import main

if __name__ == "__main__":  # worker processes import this module too
    raise SystemExit(main())
