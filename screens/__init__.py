"""pgmigrate-wizard's Textual user interface: screens gather input and show results; wizard/ does the work."""
