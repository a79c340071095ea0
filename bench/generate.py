"""Generate a realistic app-like SQLite database for benchmarks: users, orders, order_items, events.

python bench/generate.py --rows 1000000 OUT.db   (rows are split 10/25/50/15 % across the four tables)
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    created_at DATETIME NOT NULL, is_active BOOLEAN NOT NULL, balance REAL, profile JSON);
CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL REFERENCES users(id),
    status TEXT NOT NULL, currency TEXT NOT NULL, total NUMERIC(12,2) NOT NULL, item_count INTEGER NOT NULL,
    created_at DATETIME NOT NULL, updated_at DATETIME, note TEXT);
CREATE TABLE order_items (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER NOT NULL REFERENCES orders(id),
    sku TEXT NOT NULL, quantity INTEGER NOT NULL, unit_price REAL NOT NULL, discount REAL);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER REFERENCES users(id), kind TEXT NOT NULL,
    occurred_at DATETIME NOT NULL, session_id TEXT NOT NULL, ip TEXT, user_agent TEXT, payload BLOB,
    message TEXT, score REAL, flags INTEGER NOT NULL);
CREATE INDEX users_created ON users(created_at);
CREATE INDEX orders_user ON orders(user_id);
CREATE INDEX orders_status_created ON orders(status, created_at);
CREATE INDEX items_order ON order_items(order_id);
CREATE INDEX items_sku ON order_items(sku);
CREATE INDEX events_user ON events(user_id);
CREATE INDEX events_kind_time ON events(kind, occurred_at);
CREATE INDEX events_session ON events(session_id);
"""

NAMES = ["Ada", "Grace", "Zoë", "José", "Ōtani", "Björk", "Li Wei", "O'Brien", "Renée", "Mårten"]
AWKWARD = ["tab\there", "line\nbreak", "cr\rhere", "back\\slash", "\\N literal", "quote \" '", "emoji 😀", "plain"]


def generate(path: Path, rows: int, seed: int = 42) -> None:
    rng = random.Random(seed)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    n_users, n_orders = max(1, rows // 10), max(1, rows * 25 // 100)
    n_items, n_events = rows * 50 // 100, rows - rows // 10 - rows * 25 // 100 - rows * 50 // 100
    base = datetime(2020, 1, 1)

    def ts(ms: bool = False) -> str:
        t = base + timedelta(seconds=rng.randint(0, 150_000_000), milliseconds=rng.randint(0, 999) if ms else 0)
        return t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if ms else t.strftime("%Y-%m-%d %H:%M:%S")

    conn.executemany("INSERT INTO users VALUES (?,?,?,?,?,?,?)", (
        (i, f"user{i}@example.com", f"{rng.choice(NAMES)} {i}", ts(), rng.randint(0, 1),
         None if rng.random() < 0.05 else round(rng.uniform(-100, 10_000), 2),
         None if rng.random() < 0.1 else json.dumps({"lang": "en", "n": rng.randint(0, 99)}))
        for i in range(1, n_users + 1)))
    conn.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?)", (
        (i, rng.randint(1, n_users), rng.choice(["new", "paid", "shipped", "cancelled"]), rng.choice(["EUR", "USD"]),
         f"{rng.uniform(1, 5000):.2f}", rng.randint(1, 9), ts(), None if rng.random() < 0.3 else ts(),
         None if rng.random() < 0.8 else rng.choice(AWKWARD))
        for i in range(1, n_orders + 1)))
    conn.executemany("INSERT INTO order_items VALUES (?,?,?,?,?,?)", (
        (i, rng.randint(1, n_orders), f"SKU-{rng.randint(1, 50_000):06d}", rng.randint(1, 5),
         round(rng.uniform(0.5, 500), 2), None if rng.random() < 0.7 else round(rng.uniform(0, 0.5), 3))
        for i in range(1, n_items + 1)))
    conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)", (
        (i, None if rng.random() < 0.2 else rng.randint(1, n_users), rng.choice(["view", "click", "buy", "login"]),
         ts(ms=True), f"{rng.getrandbits(64):016x}", f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.1",
         "Mozilla/5.0 (X11; Linux x86_64)", None if rng.random() < 0.1 else rng.randbytes(rng.randint(16, 256)),
         None if rng.random() < 0.5 else rng.choice(AWKWARD), rng.random(), rng.randint(0, 255))
        for i in range(1, n_events + 1)))
    conn.commit()
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    generate(args.out, args.rows)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows)")


if __name__ == "__main__":
    main()
