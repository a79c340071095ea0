"""A later migration of the project: a unique field no longer unique, a named constraint removed. Both find what
they drop on PostgreSQL by its name and kind (a UNIQUE constraint, a CHECK named item_price_nonneg)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]

    operations = [
        migrations.AlterField(model_name="category", name="name", field=models.CharField(max_length=50)),
        migrations.RemoveConstraint(model_name="item", name="item_price_nonneg"),
    ]
