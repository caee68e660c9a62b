#!/usr/bin/env python3
"""The smallest honest fake of a Docker token server, for tests only.

Implements https://distribution.github.io/distribution/spec/auth/token/ far enough for
distribution 2.8 and real clients: GET /token?service=S&scope=repository:NAME:pull,push with HTTP
Basic auth returns an RS256 JWT granting the requested actions. GET /stats reports how many
tokens were issued, so tests can check that a client reuses its token.

Usage: fake-token-server.py --port P --key KEY.pem --cert CERT.pem --user U --password PW
                            --issuer ISS [--host 127.0.0.1]
"""
import argparse
import base64
import json
import secrets
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
except ImportError:  # Signs with the openssl CLI instead; slower, same bytes.
    serialization = None

TOKEN_LIFETIME = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Signer:
    def __init__(self, key_path: str, cert_path: str):
        self.key_path = key_path
        pem = open(cert_path, "rb").read()
        body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
        # x5c holds standard (not url-safe) base64 DER; distribution 2.8 verifies the chain
        # against its rootcertbundle and takes the signing key from the leaf.
        self.cert_der_b64 = base64.b64encode(base64.b64decode(body)).decode("ascii")
        self.key = None
        if serialization is not None:
            self.key = serialization.load_pem_private_key(open(key_path, "rb").read(), password=None)

    def sign(self, data: bytes) -> bytes:
        if self.key is not None:
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key_path],
                              input=data, capture_output=True, check=True).stdout

    def token(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.cert_der_b64]}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        return signing_input + "." + b64url(self.sign(signing_input.encode("ascii")))


def parse_scope(scope: str):
    # repository:NAME:ACTIONS; NAME may contain ':' only with a port-like registry prefix, so
    # split the type off the front and the actions off the back.
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


class Handler(BaseHTTPRequestHandler):
    server_version = "berth-fake-token-server"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (datetime.now().isoformat(timespec="milliseconds"), fmt % args))
        sys.stderr.flush()

    def send_json(self, status: int, body: dict, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def authenticated_user(self):
        header = self.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except Exception:
            return None
        config = self.server.config
        ok = secrets.compare_digest(user, config.user) and secrets.compare_digest(password, config.password)
        return user if ok else None

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/stats":
            with self.server.lock:
                count = self.server.token_requests
            return self.send_json(200, {"tokenRequests": count})
        if url.path != "/token":
            return self.send_json(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})

        query = parse_qs(url.query)
        user = self.authenticated_user()
        if user is None:
            return self.send_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                                  [("WWW-Authenticate", 'Basic realm="berth-test-token-server"')])
        service = query.get("service", [""])[0]
        access = []
        for scope_param in query.get("scope", []):
            # Several scopes may also come space-separated in one parameter.
            for scope in scope_param.split(" "):
                parsed = parse_scope(scope) if scope else None
                if parsed is not None:
                    access.append(parsed)

        now = int(time.time())
        claims = {
            "iss": self.server.config.issuer,
            "sub": user,
            "aud": service,  # distribution 2.8 decodes aud as a string, not a list
            "exp": now + TOKEN_LIFETIME,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        token = self.server.signer.token(claims)
        with self.server.lock:
            self.server.token_requests += 1
        issued_at = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.send_json(200, {"token": token, "access_token": token,
                             "expires_in": TOKEN_LIFETIME, "issued_at": issued_at})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--issuer", required=True)
    config = parser.parse_args()

    server = ThreadingHTTPServer((config.host, config.port), Handler)
    server.daemon_threads = True
    server.config = config
    server.signer = Signer(config.key, config.cert)
    server.lock = threading.Lock()
    server.token_requests = 0
    sys.stderr.write("fake token server on %s:%d (signing with %s)\n"
                     % (config.host, config.port, "cryptography" if serialization else "openssl"))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
