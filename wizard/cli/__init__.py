"""The headless front: `pgmigrate-wizard COMMAND` parses arguments, calls one stage, prints the result."""
