"""The SQLite side: open the file read-only, read its schema, take the snapshot the copy reads, profile the data.

Nothing here writes to the user's file; nothing here knows PostgreSQL beyond the conversions of `convert/`."""
