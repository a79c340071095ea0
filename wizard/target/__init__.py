"""The PostgreSQL side, before and around the copy: connection settings and their errors, the built-in server,
databases and the app role, passwords (PGPASSWORD, keyring), the app's `.env` and a compose file."""
