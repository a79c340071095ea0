"""pgmigrate-wizard engine: moves an SQLite database to PostgreSQL (no UI code lives here).

The stages, in the order the data flows (ARCHITECTURE.md tells the whole story):

- `source/`: the SQLite file: read-only access, its schema, the snapshot the copy reads, the profile of its data.
- `plan/`: the translation: types, names, defaults, keys, indexes, foreign keys, views, and the DDL.
- `target/`: the PostgreSQL side: connections, the built-in server, databases and role, passwords, `.env`.
- `data_copy/`: the run: tables first, batches with their checkpoints in worker processes, then keys and indexes.
- `verify/`: the proof: canonical rows, checksums, the rows that differ, the post-load checks, the report.
- `cli/`: the headless front (`pgmigrate-wizard COMMAND`), a thin caller of the stages.

Beneath them all: `plan_model` (the plan, the record every stage reads), `convert/` (SQLite value to PostgreSQL
value, and both COPY encodings, used by the profile, the copy and verify), `errors` and `workers`.
"""

__version__ = "0.1.0"
