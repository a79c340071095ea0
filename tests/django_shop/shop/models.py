"""A small Django app, as a real project would declare it: the fields whose PostgreSQL form differs from SQLite's."""

import uuid

from django.db import models


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

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(price__gte=0), name="item_price_nonneg")]
