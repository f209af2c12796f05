"""Access-control tests' tools: services started with authentication on, an OIDC issuer's JWKS.

Holds no tests. The services run as ``python -m services.<name>`` on free ports
with ``CONTRAIL_AUTH_ENABLED=true`` against the real PostgreSQL and Kafka (the
shared stack's stay as they are); the JWKS is served on 127.0.0.1 from a key
made in the test.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.service_process import ServiceProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
AUDIENCE = "contrail-tests"


class AuthService(ServiceProcess):
    """A service with ``CONTRAIL_AUTH_ENABLED=true``, and clients that carry a token."""

    def __init__(self, service: str, env: dict[str, str], log: Path) -> None:
        super().__init__(service, {"CONTRAIL_AUTH_ENABLED": "true", **env}, log)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issuer:
    """An OIDC issuer for tests: its JWKS (and discovery document) on 127.0.0.1, and its key."""

    key: rsa.RSAPrivateKey = field(default_factory=new_key)
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    port: int = field(default_factory=free_port)
    fetches: int = 0

    def __post_init__(self) -> None:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}/keys",
                    }
                elif self.path == "/keys":
                    issuer.fetches += 1
                    body = issuer.jwks()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(
        self,
        subject: str,
        roles: list[str],
        *,
        audience: str = AUDIENCE,
        expires_in: float = 300,
        key: rsa.RSAPrivateKey | None = None,
        issuer: str | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": issuer or self.url,
            "aud": audience,
            "sub": subject,
            "iat": now,
            "exp": now + int(expires_in),
            "contrail_roles": roles,
            **claims,
        }
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
