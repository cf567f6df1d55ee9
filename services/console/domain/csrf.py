"""Anti-forgery tokens (pure): a form's token is derived from the session's own key.

The key is in an HttpOnly cookie that no other site can read, so no other site can compute
the token a form must carry; no server secret is needed and a token dies with its session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def csrf_token(session_key: str) -> str:
    """The token every state-changing form of this session carries."""
    return hmac.new(session_key.encode(), b"tenure-console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_key: str, token: str | None) -> bool:
    """Whether ``token`` is this session's (in constant time)."""
    return token is not None and hmac.compare_digest(csrf_token(session_key), token)


def new_sign_in_token() -> str:
    """A random token for the sign-in form, also set as a cookie (double submit): before
    there is a session, a forged sign-in must not be able to sign a victim in as someone."""
    return secrets.token_urlsafe(24)
