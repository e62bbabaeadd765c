"""The node's role in a high-availability pair, and the gate standbys put before the APIs.

With a PostgreSQL store several nodes share one database; the one holding the leader
lock serves (store.postgres.leader). A standby's memory is not the database's: it must
not answer a validate from it, nor an admin view. So every route but the ops ones and
the admin status answers 503 `NOT_LEADER` with `Retry-After: 1` on a standby; a client
(or the load balancer, which checks /readyz) moves on to the leader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from lls.errors import LLSError

LEADER = "leader"
STANDBY = "standby"
# Routes a standby answers itself: liveness, readiness (with its role), metrics, the
# OpenAPI document and the admin status (`lls status` shows each node's role).
UNGATED = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/admin/v1/status"})


class NotLeaderHere(LLSError):
    """This node is a standby: the request goes to the leader (retry in a second)."""

    status = 503
    default_code = "NOT_LEADER"

    def __init__(self, leader: str | None) -> None:
        where = f"; the leader is {leader}" if leader else "; no node leads right now"
        super().__init__(f"this LLS node is a standby{where}")
        self.retry_after_s = 1


@dataclass(slots=True)
class NodeState:
    """What the HTTP layer knows of the node's role: asked of the store each time."""

    role_of: Callable[[], str]
    advertised: str = ""  # this node's client URL, as the leader it would be
    leader_url: str | None = None  # the leader's advertised URL, as the database names it

    @property
    def role(self) -> str:
        return self.role_of()

    @property
    def leading(self) -> bool:
        return self.role_of() == LEADER

    def refuse_unless_leading(self) -> None:
        if self.role_of() != LEADER:
            raise NotLeaderHere(self.leader_url)


NODE = web.AppKey("node", NodeState)


def gated(handler: Handler, node: NodeState) -> Handler:
    """`handler`, answering NOT_LEADER (503, Retry-After: 1) while this node stands by."""

    async def gate(request: web.Request) -> web.StreamResponse:
        node.refuse_unless_leading()
        return await handler(request)

    return gate
