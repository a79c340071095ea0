# Made by makemigrations (Django 5.2)

import uuid

import django.db.models.deletion
import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='Category',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=50, unique=True)),
            ],
        ),
        migrations.CreateModel(
            name='Item',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uid', models.UUIDField(default=uuid.uuid4, unique=True)),
                ('meta', models.JSONField(default=dict)),
                ('price', models.DecimalField(decimal_places=2, max_digits=12)),
                ('added', models.DateTimeField()),
                ('seen_from', models.GenericIPAddressField(null=True)),
                ('took', models.DurationField(null=True)),
                ('sku', models.CharField(db_index=True, max_length=20)),
                ('stock', models.PositiveIntegerField(default=0)),
                ('category', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='shop.category')),
            ],
        ),
        migrations.CreateModel(
            name='StockMovementAuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('warehouse_location_code', models.CharField(db_index=True, max_length=30)),
                ('moved', models.SmallIntegerField()),
                ('item', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='shop.item')),
            ],
        ),
        migrations.AddIndex(
            model_name='item',
            index=models.Index(django.db.models.functions.text.Lower('sku'), name='shop_item_sku_lower'),
        ),
        migrations.AddConstraint(
            model_name='item',
            constraint=models.CheckConstraint(condition=models.Q(('price__gte', 0)), name='item_price_nonneg'),
        ),
        migrations.AlterUniqueTogether(
            name='stockmovementauditentry',
            unique_together={('item', 'warehouse_location_code')},
        ),
    ]
