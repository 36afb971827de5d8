"""Who is asking, and may they: the principal behind a bearer token, and ``require``.

Handlers receive a ``Principal`` (``PrincipalDep``): ``ANONYMOUS`` without an
``Authorization: Bearer`` header or a browser's session cookie (``api.session``), else the
signed-in account re-read on every request (so a disabled account stops at once). A bearer
token that is present but invalid or expired is a 401, also on public endpoints, so a client
learns its token is dead rather than silently getting less. Decisions come from
``gis.access.policy``; nothing here decides on its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine

from api.deps import EngineDep, walk_dependants
from api.session import SAFE_METHODS, SESSION_COOKIE, check_csrf
from gis.access.accounts import load_principal
from gis.access.policy import ANONYMOUS, Access, Permission, Principal, authorize
from gis.access.tokens import TokenClaims, verify_token
from gis.core.errors import Unauthorized

TOKEN_URL = "/auth/token"
# auto_error=False: no token is anonymous, not an error; the scheme documents sign-in in OpenAPI.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


async def get_principal(
    request: Request, engine: EngineDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The principal of this request: anonymous, or the account its bearer token (or, for a
    browser, its session cookie: ``api.session``) names."""
    # A coroutine: FastAPI would run a plain function in a worker thread on every request,
    # anonymous ones included; only reading the account needs a thread.
    key = request.app.state.signing_key
    if token:
        claims = verify_token(token, key=key)
        return await run_in_threadpool(_load_principal, engine, claims)
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return ANONYMOUS  # no database round trip for residents
    try:
        principal = await run_in_threadpool(_load_principal, engine, verify_token(session, key=key))
    except Unauthorized:
        # An expired session (or a disabled account) is a signed-out browser: public pages
        # still open, the others send it to sign in (``api.errors``), which drops the cookie.
        return ANONYMOUS
    # The cookie comes with every request the browser makes, whichever site made it: a
    # change must also carry the page's CSRF token. A bearer header is never sent by itself.
    if request.method not in SAFE_METHODS:
        await check_csrf(request)
    return principal


def _load_principal(engine: Engine, claims: TokenClaims) -> Principal:
    with engine.connect() as conn:
        return load_principal(
            conn, user_id=claims.user_id, token_generation=claims.token_generation
        )


PrincipalDep = Annotated[Principal, Depends(get_principal)]
CodesOf = Callable[..., Iterable[str | None] | None]
_KEYWORD = inspect.Parameter.KEYWORD_ONLY
Codes = tuple[str | None, ...] | None


def require(permission: Permission, *, scope_of: CodesOf | None = None, lists: bool = False) -> Any:
    """A dependency giving the ``Access`` (principal, permission, scopes) once the principal may
    take ``permission`` (else 401/403).

    ``scope_of`` is itself a dependency returning the unit codes of the object the request
    touches (e.g. the report of the path); with it, an ``IN_SCOPE`` grant must reach them.
    It returns None when the request names no object. ``lists``: the route reads a list and
    shows only what ``Access.scopes`` reaches, so an account out of scope is answered (with
    less), not refused. Without either, the handler checks what it touches with
    ``Access.check``. Every route declares exactly one ``require`` (a test walks the app); the
    dependency carries ``.permission`` and ``.lists`` so tests can list them.
    """
    permission = Permission(permission)  # a plain string fails mypy, an unknown one here

    # Coroutines, not functions: deciding is pure Python, and a plain function costs a
    # worker-thread hop per request.
    async def role_gate(principal: PrincipalDep) -> Access:
        # Without codes an IN_SCOPE grant passes: this refuses only roles never granted it.
        authorize(principal, permission)
        return Access(principal, permission)

    if scope_of is None:
        dependency = role_gate
    else:

        async def dependency(access: Access, codes: Codes) -> Access:  # type: ignore[misc]
            if codes is not None:
                access.check(codes)
            return access

        # Spelled out as objects: string annotations could not see the locals. The role gate
        # comes first, so a role never granted the permission is refused before ``scope_of``
        # reads the database (and learns nothing of whether the object exists).
        gated = Annotated[Access, Depends(role_gate)]
        codes_of = Annotated[Codes, Depends(scope_of)]
        dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter("access", _KEYWORD, annotation=gated),
                inspect.Parameter("codes", _KEYWORD, annotation=codes_of),
            ],
            return_annotation=Access,
        )

    dependency.__name__ = f"require_{permission.replace('.', '_')}"
    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.lists = lists  # type: ignore[attr-defined]
    dependency.scoped = scope_of is not None  # type: ignore[attr-defined]
    return Depends(dependency)


def access_to(principal: Principal, permission: Permission) -> Access:
    """The ``Access`` of a permission the request itself decides (a layer's, named in the
    path), once the principal's role is granted it (else 401/403); its ``scopes`` then keep
    what is shown to the account's units."""
    authorize(principal, permission)
    return Access(principal, permission)


def route_permissions(
    app: FastAPI, *, lists: bool | None = None
) -> dict[tuple[str, str], tuple[Permission, ...]]:
    """(method, path) → the permissions its ``require`` dependencies check, for every route
    (with ``lists``, only the routes that are, or are not, a list naming no object: those
    answer an account out of scope with what its scope reaches).

    With ``POLICY`` and ``expected_outcome`` this generates the endpoint × role × scope matrix.
    """
    found: dict[tuple[str, str], tuple[Permission, ...]] = {}
    # Included routers are resolved lazily by FastAPI; this walks them as OpenAPI does.
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or context.path is None:
            continue
        requires = [d.call for d in walk_dependants(route.dependant) if hasattr(d.call, "lists")]
        # Set by require on the dependencies it makes.
        listing = any(getattr(r, "lists") and not getattr(r, "scoped") for r in requires)  # noqa: B009
        if lists is not None and listing is not lists:
            continue
        permissions = tuple(
            dict.fromkeys(getattr(r, "permission") for r in requires)  # noqa: B009 (by require)
        )
        for method in sorted(context.methods or ()):
            found[(method, context.path)] = permissions
    return found
