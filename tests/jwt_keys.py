"""Locally generated signing keys, a local OpenID metadata + JWKS server, and tokens.

The Bot Framework SDK fetches OpenID metadata with blocking ``requests`` calls, so the
server runs in its own thread (it would deadlock on the test's event loop).
:func:`sign_token` makes tokens shaped like the ones Bot Framework sends to a bot
(issuer ``https://api.botframework.com``, audience = the app id, ``serviceurl``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
METADATA_PATH = "/v1/.well-known/openidconfiguration"
KEYS_PATH = "/v1/.well-known/keys"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self, endorsements: tuple[str, ...] = ("msteams", "webchat")) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "endorsements": list(endorsements)}


def sign_token(
    key: SigningKey,
    *,
    app_id: str,
    service_url: str,
    issuer: str = BOT_FRAMEWORK_ISSUER,
    expires_in: int = 3600,
    kid: str | None = None,
    **claims: Any,
) -> str:
    """A Bot Framework-shaped channel token signed with ``key`` (``kid`` may lie)."""
    now = int(time.time())
    payload = {
        "iss": issuer,
        "aud": app_id,
        "serviceurl": service_url,
        "nbf": now - 60,
        "iat": now - 60,
        "exp": now + expires_in,
        **claims,
    }
    return jwt.encode(payload, key.private, algorithm="RS256", headers={"kid": kid or key.kid})


@dataclass
class OpenIdServer:
    """Serves OpenID metadata and a JWKS for ``keys`` on 127.0.0.1 from a thread."""

    keys: list[SigningKey]
    requests_seen: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def metadata_url(self) -> str:
        return self.base_url + METADATA_PATH

    def _documents(self) -> dict[str, dict[str, Any]]:
        return {
            METADATA_PATH: {
                "issuer": BOT_FRAMEWORK_ISSUER,
                "jwks_uri": self.base_url + KEYS_PATH,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            },
            KEYS_PATH: {"keys": [k.jwk() for k in self.keys]},
        }

    def start(self) -> OpenIdServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests_seen.append(self.path)
                document = owner._documents().get(self.path)
                payload = json.dumps(document or {"error": "not found"}).encode()
                self.send_response(200 if document else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
