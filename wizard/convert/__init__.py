"""SQLite values to PostgreSQL values, and their COPY encodings: one place, used by the profile (does a value
fit?), the copy (send it) and verify (compare it), so the three always agree."""
