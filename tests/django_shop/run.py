"""Run the django_shop project against SQLite (`make PATH`, `dump PATH`) or PostgreSQL (`check HOST PORT USER
PASSWORD NAME UID`, `dump HOST PORT USER PASSWORD NAME`, `create HOST PORT USER PASSWORD NAME`: the schema Django
itself makes on an empty database, `upgrade HOST PORT USER PASSWORD NAME`: apply the project's next migration), for
the tests."""

import json
import sys
from pathlib import Path

import django
from django.conf import settings

sys.path.insert(0, str(Path(__file__).parent))
if len(sys.argv) == 3:  # a SQLite file
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[2]}
else:
    host, port, user, password, name = sys.argv[2:7]
    database = {"ENGINE": "django.db.backends.postgresql", "HOST": host, "PORT": port, "USER": user,
                "PASSWORD": password, "NAME": name}
# `upgrade`: the project one migration later (shop.upgrade holds 0001 and the next one)
settings.configure(DATABASES={"default": database}, USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
                   INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "shop"],
                   MIGRATION_MODULES={"shop": "shop.upgrade"} if sys.argv[1] == "upgrade" else {})
django.setup()

from datetime import datetime, timedelta, timezone  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from shop.models import Category, Item, StockMovementAuditEntry  # noqa: E402

if sys.argv[1] == "upgrade":
    call_command("migrate", verbosity=0)
elif sys.argv[1] == "dump":
    call_command("dumpdata", "shop", "auth", "contenttypes")
elif sys.argv[1] == "create":
    call_command("migrate", verbosity=0)
elif sys.argv[1] == "make":
    call_command("migrate", verbosity=0)
    tools = Category.objects.create(name="tools")
    for i in range(20):
        Item.objects.create(category=tools, meta={"color": "red" if i % 2 else "blue", "n": i},
                            price=Decimal(f"{i}.50"), added=datetime(2024, 1, 1 + i, 12, tzinfo=timezone.utc),
                            seen_from=None if i == 3 else f"10.0.0.{i}" if i % 2 else f"2001:db8::{i:x}",
                            took=timedelta(days=i, hours=1, microseconds=i), sku=f"SKU-{i:03}", stock=i * 3)
    for item in Item.objects.all()[:5]:
        StockMovementAuditEntry.objects.create(item=item, warehouse_location_code=f"A-{item.id}", moved=-2)
    print(json.dumps({"uid": str(Item.objects.get(meta__n=7).uid)}))
else:
    uid = sys.argv[7]
    call_command("migrate", check=True, verbosity=0)  # exits 1 if a migration is unapplied
    found = Item.objects.get(uid=uid)  # Django sends '...'::uuid
    blue = Item.objects.filter(meta__color="blue").count()  # a JSON key lookup
    with transaction.atomic():  # a new row, without an id, and its category created after it (deferred key)
        item = Item(category_id=999, meta={"new": True}, price=Decimal("1.00"), sku="new",
                    added=datetime(2025, 1, 1, tzinfo=timezone.utc))
        item.save()
        Category.objects.create(id=999, name="late")
    from datetime import date

    on_8th = Item.objects.filter(added__date=date(2024, 1, 8)).count()  # a date lookup on aware datetimes
    by_ip = Item.objects.get(seen_from="10.0.0.7").meta["n"]  # Django binds an inet parameter
    took = found.took == timedelta(days=7, hours=1, microseconds=7)  # a duration comes back as a timedelta
    longer = Item.objects.filter(took__gt=timedelta(days=10)).count()
    starts = Item.objects.filter(sku__startswith="SKU-01").count()  # LIKE 'SKU-01%', what the _like index serves
    print(json.dumps({"n": found.meta["n"], "blue": blue, "new_id": item.id, "uid_type": type(found.uid).__name__,
                      "aware": found.added.tzinfo is not None and found.added.hour == 12, "on_8th": on_8th,
                      "by_ip": by_ip, "took": took, "longer": longer, "starts": starts}))
