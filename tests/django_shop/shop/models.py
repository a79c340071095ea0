"""A small Django app, as a real project would declare it: the fields whose PostgreSQL form differs from SQLite's."""

import uuid

from django.db import models
from django.db.models.functions import Lower


class Category(models.Model):
    name = models.CharField(max_length=50, unique=True)


class Item(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True)
    category = models.ForeignKey(Category, on_delete=models.CASCADE)
    meta = models.JSONField(default=dict)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    added = models.DateTimeField()
    seen_from = models.GenericIPAddressField(null=True)
    took = models.DurationField(null=True)
    sku = models.CharField(max_length=20, db_index=True)  # PostgreSQL also gets a varchar_pattern_ops index
    stock = models.PositiveIntegerField(default=0)  # a CHECK (stock >= 0) PostgreSQL names itself

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(price__gte=0), name="item_price_nonneg")]
        indexes = [models.Index(Lower("sku"), name="shop_item_sku_lower")]  # an expression index


class StockMovementAuditEntry(models.Model):
    """Long names: Django shortens its index and key names to 63 characters on PostgreSQL, not on SQLite."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE)
    warehouse_location_code = models.CharField(max_length=30, db_index=True)
    moved = models.SmallIntegerField()

    class Meta:
        unique_together = [("item", "warehouse_location_code")]
