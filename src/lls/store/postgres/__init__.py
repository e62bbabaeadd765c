"""PostgreSQL persistence for nodes that share one database: leader lock, group commit, reads."""

from lls.store.postgres.leader import LeaderLock, NotLeader, advisory_key
from lls.store.postgres.migrate import SchemaTooNew
from lls.store.postgres.store import PostgresStore

__all__ = ["LeaderLock", "NotLeader", "PostgresStore", "SchemaTooNew", "advisory_key"]
