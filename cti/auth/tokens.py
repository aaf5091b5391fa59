"""Creating, checking and revoking API tokens.

A token is ``cti_<prefix>_<secret>``; the database keeps the prefix (to list
and revoke by) and the SHA-256 of the whole token, never the token itself.
Tokens are 256-bit random, so a fast hash is enough (no password stretching).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.auth.models import ApiToken
from cti.auth.scopes import ALL_SCOPES, SHOP_SCOPES, Scope

TOKEN_PREFIX = "cti_"
#: A shop's name, as orders give it (``OrderIn.shop``).
SHOP_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: ``last_used_at`` is written at most this often per token (a write per request would not do).
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: int
    name: str
    scopes: frozenset[str]
    agent_extension: str | None
    shop: str | None = None
    """Bound to one shop: only that shop's orders exist for this token. None: every shop."""

    def has(self, scope: Scope | str) -> bool:
        return str(scope) in self.scopes

    def may_act_for_shop(self, shop: str) -> bool:
        return self.shop is None or self.shop == shop

    def own_extension(self, *wider: Scope) -> str | None:
        """Whose tickets and calls this token may see: None for everyone's, when it has
        one of the ``wider`` (supervisors') scopes; else its agent extension ("" for a
        token bound to none, which sees nobody's)."""
        if any(self.has(s) for s in wider):
            return None
        return self.agent_extension or ""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    id: int
    name: str
    token: str
    scopes: tuple[str, ...]
    shop: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in ALL_SCOPES]
    if unknown:
        raise TokenError(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(ALL_SCOPES))}"
        )
    if not wanted:
        raise TokenError("a token needs at least one scope")
    return wanted


async def create_token(
    session: AsyncSession,
    name: str,
    scopes: Iterable[str],
    agent_extension: str | None = None,
    *,
    now: datetime,
    shop: str | None = None,
) -> IssuedToken:
    """A new token; with ``shop`` it reads and writes that shop's orders only.

    A shop-bound token carries only :data:`SHOP_SCOPES` (a shop backend has no business
    with tickets, calls or agents, which are every shop's).
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("token name must be 1 to 100 characters")
    scope_list = validate_scopes(scopes)
    if Scope.AGENT.value in scope_list and not agent_extension:
        raise TokenError("a token with scope 'agent' must be bound to an agent extension")
    if agent_extension is not None and not agent_extension.isdigit():
        raise TokenError("agent extension must be digits, e.g. 1001")
    if shop is not None:
        if not SHOP_RE.fullmatch(shop):
            raise TokenError("shop must be 1 to 64 letters, digits, '_', '.' or '-'")
        others = [s for s in scope_list if s not in SHOP_SCOPES]
        if others or agent_extension is not None:
            raise TokenError(
                f"a token bound to a shop carries only {', '.join(sorted(SHOP_SCOPES))}"
                + (f", not {', '.join(others)}" if others else ", and no agent extension")
            )
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        name=name,
        prefix=prefix,
        secret_hash=hash_token(token),
        scopes=scope_list,
        agent_extension=agent_extension,
        shop=shop,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return IssuedToken(id=row.id, name=name, token=token, scopes=tuple(scope_list), shop=shop)


async def authenticate(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> Principal | None:
    """The principal of a valid token, else None.

    With ``now``, the token's ``last_used_at`` is moved forward when it is older than
    :data:`LAST_USED_RESOLUTION` (the caller commits).
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    row = (
        await session.execute(select(ApiToken).where(ApiToken.secret_hash == digest))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, digest):
        return None
    if now is not None and (
        row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION
    ):
        row.last_used_at = now
    scopes = frozenset(row.scopes)
    if not row.agent_extension:
        # An agent token bound to no extension would be nobody's desk: it gets none.
        scopes -= {Scope.AGENT.value}
    return Principal(
        token_id=row.id,
        name=row.name,
        scopes=scopes,
        agent_extension=row.agent_extension,
        shop=row.shop,
    )


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.execute(select(ApiToken).order_by(ApiToken.id))).scalars())


async def revoke_token(session: AsyncSession, key: str, *, now: datetime) -> ApiToken:
    """Revoke by id or by prefix (a token revoked before keeps its first revocation time)."""
    # A prefix is 8 hex digits and may be all decimal ones: it is tried first.
    row = (
        await session.execute(select(ApiToken).where(ApiToken.prefix == key))
    ).scalar_one_or_none()
    if row is None and key.isdigit() and int(key) <= 2**31 - 1:
        row = await session.get(ApiToken, int(key))
    if row is None:
        raise TokenError(f"no token with id or prefix {key!r}")
    if row.revoked_at is None:
        row.revoked_at = now
    return row
