"""pgmigrate-wizard engine: moves an SQLite database to PostgreSQL (no UI code lives here)."""

__version__ = "0.1.0"
