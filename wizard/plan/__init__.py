"""The translation: from the SQLite schema and the profile of its data to a MigrationPlan (types, names,
defaults, keys, indexes, foreign keys, views, findings) and the plan's PostgreSQL DDL. Reads SQLite; never
connects to PostgreSQL."""
