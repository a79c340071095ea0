"""The project's first migration, as shop.migrations has it (this package adds the next one)."""

from importlib import import_module

Migration = import_module("shop.migrations.0001_initial").Migration
