"""SQLite persistence: one writer thread with group commit, migrations, queries → domain models."""

from lls.store.sqlite import SqliteStore

__all__ = ["SqliteStore"]
