"""A small demo SQLite database with the patterns real apps have (`pgmigrate-wizard make-demo demo.db`).

AUTOINCREMENT ids, foreign keys, booleans stored as 0/1, timestamps as text, JSON as text, a BLOB, a NOCASE unique
e-mail, a partial index, a view and a trigger.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL COLLATE NOCASE UNIQUE,
    name TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    settings JSON
);
CREATE TABLE posts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title VARCHAR(200) NOT NULL,
    body TEXT,
    published INTEGER NOT NULL DEFAULT 0,
    deleted_at DATETIME,
    created_at DATETIME NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX posts_user_live ON posts(user_id) WHERE deleted_at IS NULL;
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    post_id INTEGER NOT NULL REFERENCES posts(id),
    filename TEXT NOT NULL,
    data BLOB NOT NULL,
    size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0)
);
CREATE TABLE tags (
    post_id INTEGER NOT NULL REFERENCES posts(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (post_id, tag)
) WITHOUT ROWID;
CREATE VIEW published_posts AS SELECT id, user_id, title FROM posts WHERE published = 1 AND deleted_at IS NULL;
CREATE TRIGGER posts_touch AFTER UPDATE ON posts BEGIN SELECT 1; END;
"""


def make(path: Path, users: int = 50, seed: int = 7) -> Path:
    rng = random.Random(seed)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    start = datetime(2023, 1, 1, 8, 0, 0)
    names = ["Ada", "Grace", "Linus", "Zoë", "Ōtani", "Renée", "Björk", "José", "Li Wei", "O'Brien"]
    for i in range(1, users + 1):
        name = f"{rng.choice(names)} {i}"
        created = (start + timedelta(minutes=rng.randint(0, 500_000))).strftime("%Y-%m-%d %H:%M:%S")
        settings = json.dumps({"theme": rng.choice(["dark", "light"]), "lang": "en"}) if i % 3 else None
        conn.execute("INSERT INTO users (email, name, is_admin, created_at, settings) VALUES (?,?,?,?,?)",
                     (f"user{i}@example.com", name, int(i % 10 == 0), created, settings))
    post_id = 0
    for u in range(1, users + 1):
        for _ in range(rng.randint(0, 4)):
            post_id += 1
            created = (start + timedelta(minutes=rng.randint(0, 500_000))).strftime("%Y-%m-%dT%H:%M:%S")
            deleted = created if rng.random() < 0.1 else None
            conn.execute("INSERT INTO posts (user_id, title, body, published, deleted_at, created_at) "
                         "VALUES (?,?,?,?,?,?)",
                         (u, f"Post {post_id}", "Line one\nLine\ttwo \\ \"quoted\"", rng.randint(0, 1), deleted,
                          created))
            if rng.random() < 0.3:
                blob = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
                conn.execute("INSERT INTO attachments (post_id, filename, data, size_bytes) VALUES (?,?,?,?)",
                             (post_id, f"file{post_id}.bin", blob, len(blob)))
            for tag in rng.sample(["news", "howto", "sqlite", "postgres", "python"], rng.randint(0, 2)):
                conn.execute("INSERT INTO tags VALUES (?, ?)", (post_id, tag))
    conn.execute("DELETE FROM posts WHERE id = ? AND id NOT IN (SELECT post_id FROM attachments) "
                 "AND id NOT IN (SELECT post_id FROM tags)", (post_id,))  # sqlite_sequence stays ahead of max(id)
    conn.commit()
    conn.close()
    return path
