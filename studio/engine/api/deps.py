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


def authorize(request: Request) -> None:
    """Require ``Authorization: Bearer <api_key>`` when the engine has a key (compared in constant time)."""
    key = get_engine(request).api_key
    if key is None:
        return
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
        raise AuthenticationError("Incorrect API key provided.", code="invalid_api_key")


EngineDep = Annotated[Engine, Depends(get_engine)]
"""A route parameter ``engine: EngineDep`` receives the app's engine."""
