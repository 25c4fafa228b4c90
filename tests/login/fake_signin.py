#!/usr/bin/env python3
"""A fake of the AWS Sign-In service's token endpoint, for `login_session` profiles (`aws login`).

No emulator implements AWS Sign-In (moto has none), so this follows the published service model
(botocore's `signin` 2023-01-01, restJson1, the same model the Rust SDK's aws-sdk-signin is
generated from) and what the real clients do when they refresh a console session:

  POST /v1/token       CreateOAuth2Token, grantType "refresh_token", unsigned, with a DPoP proof
                       (RFC 9449): a JWT whose header carries the client's P-256 public key
                       (`jwk`), signed ES256 with it, claims htm=POST, htu=<this URL>, iat, jti.
                       The proof must verify, name this URL, be fresh (iat within 5 minutes),
                       not replay a jti, and its key must be the one the session was bound to
                       at login. Refresh tokens rotate: each is good for ONE refresh; a spent
                       one ends the whole session (reuse detection), so a client that spends a
                       refresh token behind the AWS CLI's back logs the CLI out — visibly.
                       Answer: {"tokenOutput"-payload}: accessToken {accessKeyId,
                       secretAccessKey, sessionToken}, tokenType "aws_sigv4", expiresIn,
                       refreshToken.
  Errors: HTTP 400 (AccessDeniedException, ValidationException), 429, 500, with
  `x-amzn-ErrorType: <Shape>` and `{"error": "<OAuth2ErrorCode>", "message": "…"}`.

Test controls (not AWS)
  POST /_fake/login     {"session": ARN, "account_id", "cache_dir", "expires_in" (s, may be
                        negative: an expired access token), "client_id"}: what `aws login`
                        does on the client: a new P-256 key, a session bound to it, and the
                        AWS CLI's cache file `<cache_dir>/<sha256(session)>.json` (mode 0600)
                        with accessToken {accessKeyId, secretAccessKey, sessionToken,
                        accountId, expiresAt}, tokenType, refreshToken, idToken, clientId,
                        dpopKey (SEC1 PEM). Answers {"path": …}.
  GET  /_fake/requests  the recorder: every request (operation, status, error, refresh token
                        prefix, proof checks), oldest first
  POST /_fake/config    {"expires_in": s, "delay": s (before answering a refresh),
                        "deny": "<OAuth2ErrorCode>" (answer every refresh with it)}
  POST /_fake/end-sessions   every session ends (refresh → TOKEN_EXPIRED)

Usage: fake_signin.py [--port 0]. Prints `FAKE_SIGNIN_PORT=<port>` once it listens.
Needs `cryptography` (a dependency of moto, so in the test venv already).
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import secrets
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

LOCK = threading.Lock()
SESSIONS = {}  # session ARN -> {"thumbprint", "live", "account_id"}
REFRESH = {}  # refresh token -> {"session", "spent"}
JTIS = set()
REQUESTS = []
CONFIG = {"expires_in": 900, "delay": 0.0, "deny": None}


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(jwk):
    """RFC 7638 JWK thumbprint of an EC key."""
    canon = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64u(hashlib.sha256(canon.encode()).digest())


def jwk_of(public_key):
    nums = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64u(nums.x.to_bytes(32, "big")),
        "y": b64u(nums.y.to_bytes(32, "big")),
    }


def credentials():
    alnum = string.ascii_uppercase + string.digits
    return {
        "accessKeyId": "ASIA" + "".join(secrets.choice(alnum) for _ in range(16)),
        "secretAccessKey": secrets.token_urlsafe(30)[:40],
        "sessionToken": "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(120),
    }


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_proof(proof, url):
    """Verifies a DPoP proof for POST `url`; returns (thumbprint, None) or (None, why)."""
    try:
        head_b64, body_b64, sig_b64 = proof.split(".")
        head = json.loads(unb64u(head_b64))
        claims = json.loads(unb64u(body_b64))
        sig = unb64u(sig_b64)
    except Exception:
        return None, "the DPoP proof is not a JWT"
    if head.get("typ") != "dpop+jwt" or head.get("alg") != "ES256":
        return None, "the DPoP proof's header must say typ dpop+jwt, alg ES256"
    jwk = head.get("jwk") or {}
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None, "the DPoP proof's jwk must be a P-256 key"
    try:
        x = int.from_bytes(unb64u(jwk["x"]), "big")
        y = int.from_bytes(unb64u(jwk["y"]), "big")
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        if len(sig) != 64:
            return None, "the DPoP proof's signature is not 64 bytes (r||s)"
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        key.verify(der, f"{head_b64}.{body_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except Exception:
        return None, "the DPoP proof's signature does not verify"
    if claims.get("htm") != "POST":
        return None, "the DPoP proof's htm is not POST"
    if claims.get("htu") != url:
        return None, f"the DPoP proof's htu {claims.get('htu')!r} is not {url!r}"
    iat = claims.get("iat")
    if not isinstance(iat, int) or abs(time.time() - iat) > 300:
        return None, "the DPoP proof's iat is not within 5 minutes"
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        return None, "the DPoP proof has no jti"
    with LOCK:
        if jti in JTIS:
            return None, "the DPoP proof replays a jti"
        JTIS.add(jti)
    return thumbprint(jwk), None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, obj, error_type=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    def fail(self, status, shape, code, message, record):
        record.update({"status": status, "error": code, "message": message})
        with LOCK:
            REQUESTS.append(record)
        self.send(status, {"error": code, "message": message}, shape)

    def do_GET(self):
        if self.path == "/_fake/requests":
            with LOCK:
                self.send(200, list(REQUESTS))
            return
        self.send(404, {"message": "not found"})

    def do_POST(self):
        raw = self.body()
        path = self.path.split("?", 1)[0]
        if path == "/_fake/login":
            return self.fake_login(json.loads(raw or b"{}"))
        if path == "/_fake/config":
            with LOCK:
                CONFIG.update(json.loads(raw or b"{}"))
            return self.send(200, CONFIG)
        if path == "/_fake/end-sessions":
            with LOCK:
                for s in SESSIONS.values():
                    s["live"] = False
            return self.send(200, {})
        if path == "/v1/token":
            return self.token(raw)
        self.send(404, {"message": f"no such operation: POST {path}"})

    def fake_login(self, req):
        key = ec.generate_private_key(ec.SECP256R1())
        session = req["session"]
        account = req.get("account_id", "123456789012")
        refresh = "rt-" + secrets.token_urlsafe(32)
        with LOCK:
            SESSIONS[session] = {
                "thumbprint": thumbprint(jwk_of(key.public_key())),
                "live": True,
                "account_id": account,
            }
            REFRESH[refresh] = {"session": session, "spent": False}
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        token = {
            "accessToken": dict(
                credentials(),
                accountId=account,
                expiresAt=iso(time.time() + int(req.get("expires_in", 900))),
            ),
            "tokenType": "aws_sigv4",
            "refreshToken": refresh,
            "idToken": "eyJ" + secrets.token_urlsafe(40),
            "clientId": req.get("client_id", "arn:aws:signin:::devtools/same-device"),
            "dpopKey": pem,
        }
        cache_dir = req["cache_dir"]
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        name = hashlib.sha256(session.strip().encode()).hexdigest() + ".json"
        path = os.path.join(cache_dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(token, f)
        self.send(200, {"path": path})

    def token(self, raw):
        host = self.headers.get("Host", "")
        url = f"http://{host}/v1/token"
        record = {"operation": "CreateOAuth2Token", "path": self.path}
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            return self.fail(400, "ValidationException", "invalid_request", "body is not JSON", record)
        record["grant_type"] = req.get("grantType")
        record["client_id"] = req.get("clientId")
        rt = req.get("refreshToken") or ""
        record["refresh_token"] = rt[:10]
        if req.get("grantType") != "refresh_token":
            return self.fail(400, "ValidationException", "unsupported_grant_type", "only refresh_token is faked", record)
        if req.get("clientId") not in (
            "arn:aws:signin:::devtools/same-device",
            "arn:aws:signin:::devtools/cross-device",
        ):
            return self.fail(400, "ValidationException", "invalid_client", "unknown clientId", record)
        proof = self.headers.get("DPoP")
        if not proof:
            return self.fail(400, "ValidationException", "invalid_request", "missing DPoP proof", record)
        thumb, why = check_proof(proof, url)
        record["dpop"] = "ok" if thumb else why
        if not thumb:
            return self.fail(400, "ValidationException", "invalid_request", why, record)
        delay = CONFIG.get("delay") or 0
        if delay:
            time.sleep(float(delay))
        with LOCK:
            deny = CONFIG.get("deny")
            entry = REFRESH.get(rt)
            session = SESSIONS.get(entry["session"]) if entry else None
            if deny:
                pass
            elif entry is None or session is None:
                deny = "TOKEN_EXPIRED"
            elif entry["spent"]:
                # Reuse of a rotated refresh token: the whole session ends.
                session["live"] = False
                deny = "TOKEN_EXPIRED"
                record["reuse"] = True
            elif not session["live"]:
                deny = "TOKEN_EXPIRED"
            elif session["thumbprint"] != thumb:
                deny = "invalid_grant"
            if not deny:
                entry["spent"] = True
                new_rt = "rt-" + secrets.token_urlsafe(32)
                REFRESH[new_rt] = {"session": entry["session"], "spent": False}
        if deny:
            shape = "AccessDeniedException" if deny.isupper() else "ValidationException"
            return self.fail(400, shape, deny, f"refresh refused: {deny}", record)
        out = {
            "accessToken": credentials(),
            "tokenType": "aws_sigv4",
            "expiresIn": int(CONFIG.get("expires_in", 900)),
            "refreshToken": new_rt,
        }
        record.update({"status": 200, "access_key_id": out["accessToken"]["accessKeyId"]})
        with LOCK:
            REQUESTS.append(record)
        self.send(200, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"FAKE_SIGNIN_PORT={srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
