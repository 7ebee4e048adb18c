"""What every route depends on: the app's :class:`~studio.engine.service.Engine` and the bearer-key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from studio.engine.api.errors import AuthenticationError
from studio.engine.service import Engine


def get_engine(request: Request) -> Engine:
    """The engine that ``create_app`` put on ``app.state``."""
    return request.app.state.engine


NO_API_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth"
    " (i.e. Authorization: Bearer YOUR_KEY)."
)
"""OpenAI's answer to a request without a key (its error ``code`` is null), told apart from a wrong key."""


def authorize(request: Request) -> None:
    """Require ``Authorization: Bearer <api_key>`` when the engine has a key (compared in constant time); a
    request without the header is told so, as OpenAI does, a wrong key that it is incorrect."""
    key = get_engine(request).api_key
    if key is None:
        return
    header = (request.headers.get("authorization") or "").strip()
    if not header:
        raise AuthenticationError(NO_API_KEY)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
        raise AuthenticationError("Incorrect API key provided.", code="invalid_api_key")


EngineDep = Annotated[Engine, Depends(get_engine)]
"""A route parameter ``engine: EngineDep`` receives the app's engine."""
