#!/usr/bin/env python3
"""A faithful fake of AWS IAM Identity Center for tests: the SSO OIDC API and the SSO portal.

No emulator implements these services (moto has neither), so this follows the published API
shapes (botocore's and the Rust SDK's service models, restJson1) and what the real clients do:

OIDC (service `sso-oauth`, unsigned requests, JSON bodies in camelCase)
  POST /client/register          RegisterClient
  POST /device_authorization     StartDeviceAuthorization
  POST /token                    CreateToken: device_code, authorization_code (+ PKCE
                                 verifier) and refresh_token grants; refresh tokens rotate
  GET  /authorize                the (unmodelled) authorization endpoint of the auth-code flow:
                                 checks client_id, redirect_uri, state, S256 code_challenge, then
                                 redirects to the loopback redirect URI with code and state
  GET  /device?user_code=…       the device verification page (a visit approves)
  Errors: HTTP status of the model, `x-amzn-ErrorType: <Shape>` and
  `{"error": "<oauth code>", "error_description": "…"}`.

Portal (service `awsssoportal`, bearer token in `x-amz-sso_bearer_token`, snake_case query)
  GET  /federation/credentials   GetRoleCredentials (role credentials come from AssumeRole at
                                 the moto STS given with --sts; expiration in epoch ms)
  GET  /assignment/accounts      ListAccounts (next_token / max_result pagination)
  GET  /assignment/roles         ListAccountRoles (same)
  POST /logout                   Logout (ends the portal session: every token of it dies)
  Errors: 401 UnauthorizedException (dead token), 403 ForbiddenException (unassigned role),
  400 InvalidRequestException, 404 ResourceNotFoundException; body `{"message": "…"}`.

Test controls (not AWS)
  GET  /_fake/requests            the recorder: every request, oldest first (JSON list of
                                  operation, grant_type, method, path, query, body, headers,
                                  status, error, response)
  POST /_fake/reset-requests      forget them
  GET  /_fake/state               counts of live sessions and tokens
  POST /_fake/config              JSON object merged into the settings below
  POST /_fake/expire-access-tokens   every access token issued so far is expired now
  POST /_fake/end-sessions        every portal session ends (access and refresh tokens die)
  POST /_fake/assign / unassign   {"account_id", "role_name"[, "account_name"]}
  POST /_fake/approve             {"user_code"}: approve a device authorization

Settings (POST /_fake/config): access_token_ttl (s), session_ttl (s, the portal session a
refresh token can extend), device_expires_in, device_interval, page_size (default max_result),
max_page (the largest page the portal answers, whatever max_result asks),
role_duration (s), user (role session name), role_token_suffix (appended to GetRoleCredentials'
session token: a hostile portal), role_expiration_offset (s from now: GetRoleCredentials'
expiration instead of STS's), slow_down (answer the next N device polls with
SlowDownException), approve: "visit" (a visit of the authorize/device page approves), "auto"
(device authorizations are approved at once, no visit), "deny" (a visit denies), "ignore" (a
visit does nothing: the sign-in never completes), verification_uri_complete (sent as
`verificationUriComplete` instead of the fake's own device page: a hostile service).

Usage: fake_sso.py --sts http://127.0.0.1:MOTO_PORT [--port 0]
Prints `FAKE_SSO_PORT=<port>` on stdout once it listens.
"""

import argparse
import base64
import calendar
import hashlib
import json
import re
import secrets
import string
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
KNOWN_GRANTS = {"authorization_code", "refresh_token", DEVICE_GRANT}
SCOPE_RE = re.compile(r"^[a-z][a-z0-9_-]*(:[a-z0-9_*-]+)+$")
UNRESERVED = set(string.ascii_letters + string.digits + "-._~")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}

# OIDC error shape -> (HTTP status, OAuth error code), from the service model.
OIDC_ERRORS = {
    "AccessDeniedException": (400, "access_denied"),
    "AuthorizationPendingException": (400, "authorization_pending"),
    "ExpiredTokenException": (400, "expired_token"),
    "InternalServerException": (500, "server_error"),
    "InvalidClientException": (401, "invalid_client"),
    "InvalidClientMetadataException": (400, "invalid_client_metadata"),
    "InvalidGrantException": (400, "invalid_grant"),
    "InvalidRedirectUriException": (400, "invalid_redirect_uri"),
    "InvalidRequestException": (400, "invalid_request"),
    "InvalidScopeException": (400, "invalid_scope"),
    "SlowDownException": (400, "slow_down"),
    "UnauthorizedClientException": (400, "unauthorized_client"),
    "UnsupportedGrantTypeException": (400, "unsupported_grant_type"),
}
PORTAL_ERRORS = {
    "InvalidRequestException": 400,
    "UnauthorizedException": 401,
    "ForbiddenException": 403,
    "ResourceNotFoundException": 404,
    "TooManyRequestsException": 429,
}


class ApiError(Exception):
    def __init__(self, shape, description):
        super().__init__(description)
        self.shape = shape
        self.description = description


def now():
    return time.time()


def token(prefix, n=32):
    return prefix + secrets.token_urlsafe(n)


class State:
    """Everything the fake knows, behind one lock."""

    def __init__(self, sts_url):
        self.lock = threading.RLock()
        self.sts_url = sts_url.rstrip("/")
        self.config = {
            "access_token_ttl": 3600,
            "session_ttl": 8 * 3600,
            "device_expires_in": 600,
            "device_interval": 1,
            "page_size": 2,
            "max_page": 100,
            "role_duration": 3600,
            "registration_ttl": 90 * 24 * 3600,
            "user": "sso-user",
            "slow_down": 0,
            "approve": "visit",
            "verification_uri_complete": "",
            # Hostile portal modes: appended to the session token of GetRoleCredentials, and
            # an expiration of now + this many seconds instead of STS's (None: STS's).
            "role_token_suffix": "",
            "role_expiration_offset": None,
        }
        # account id -> {"name", "email", "roles": [names]}
        self.accounts = {
            "111111111111": {"name": "dev", "email": "dev@example.com", "roles": ["Admin", "ReadOnly"]},
            "222222222222": {"name": "prod", "email": "prod@example.com", "roles": ["ReadOnly"]},
            "333333333333": {
                "name": "sandbox",
                "email": "sandbox@example.com",
                "roles": ["Admin", "PowerUser", "ReadOnly"],
            },
        }
        self.clients = {}
        self.devices = {}
        self.codes = {}
        self.sessions = {}
        self.access = {}
        self.refresh = {}
        self.requests = []

    # -- helpers -----------------------------------------------------------------------------

    def client(self, body, grant=None):
        cid = body.get("clientId")
        secret = body.get("clientSecret")
        if not cid or not secret:
            raise ApiError("InvalidRequestException", "clientId and clientSecret are required")
        c = self.clients.get(cid)
        if c is None or not secrets.compare_digest(c["secret"], secret):
            raise ApiError("InvalidClientException", "Invalid client provided")
        if c["expires_at"] <= now():
            raise ApiError("InvalidClientException", "Client registration has expired")
        if grant is not None:
            allowed = c["grant_types"] or {DEVICE_GRANT, "refresh_token"}
            if grant not in allowed:
                raise ApiError(
                    "UnauthorizedClientException",
                    f"Client is not authorized to use the {grant} grant",
                )
        return cid, c

    def issue(self, cid, client, session_id):
        cfg = self.config
        access = token("aoa", 48)
        self.access[access] = {
            "session": session_id,
            "client": cid,
            "expires_at": now() + cfg["access_token_ttl"],
        }
        out = {
            "accessToken": access,
            "tokenType": "Bearer",
            "expiresIn": int(cfg["access_token_ttl"]),
        }
        # A client registered without scopes (the legacy form) gets no refresh token.
        if client["scopes"]:
            refresh = token("aor", 48)
            self.refresh[refresh] = {"session": session_id, "client": cid, "valid": True}
            out["refreshToken"] = refresh
        return out

    def new_session(self, start_url, scopes):
        sid = secrets.token_hex(8)
        self.sessions[sid] = {
            "start_url": start_url,
            "scopes": list(scopes),
            "expires_at": now() + self.config["session_ttl"],
            "ended": False,
        }
        return sid

    def session_live(self, sid):
        s = self.sessions.get(sid)
        return s is not None and not s["ended"] and s["expires_at"] > now()

    def bearer(self, headers):
        t = headers.get("x-amz-sso_bearer_token")
        if not t:
            raise ApiError("UnauthorizedException", "Session token not found or invalid")
        a = self.access.get(t)
        if a is None or a["expires_at"] <= now() or not self.session_live(a["session"]):
            raise ApiError("UnauthorizedException", "Session token not found or invalid")
        return t, a

    # -- OIDC --------------------------------------------------------------------------------

    def register_client(self, body):
        name = body.get("clientName")
        ctype = body.get("clientType")
        if not name or not ctype:
            raise ApiError("InvalidRequestException", "clientName and clientType are required")
        if ctype != "public":
            raise ApiError("InvalidClientMetadataException", f"Invalid client type: {ctype}")
        scopes = body.get("scopes") or []
        for s in scopes:
            if not SCOPE_RE.match(s):
                raise ApiError("InvalidScopeException", f"Invalid scope: {s}")
        grants = body.get("grantTypes") or []
        for g in grants:
            if g not in KNOWN_GRANTS:
                raise ApiError("UnsupportedGrantTypeException", f"Unsupported grant type: {g}")
        redirects = body.get("redirectUris") or []
        for r in redirects:
            u = urllib.parse.urlsplit(r)
            if u.scheme != "http" or u.hostname is None or u.netloc.split(":")[0] not in LOOPBACK_HOSTS:
                raise ApiError("InvalidRedirectUriException", f"Invalid redirect URI: {r}")
        if "authorization_code" in grants:
            if not redirects:
                raise ApiError(
                    "InvalidRequestException",
                    "redirectUris are required for the authorization_code grant",
                )
            if not body.get("issuerUrl"):
                raise ApiError(
                    "InvalidRequestException",
                    "issuerUrl is required for the authorization_code grant",
                )
        cid = token("", 16)
        issued = int(now())
        expires = issued + int(self.config["registration_ttl"])
        self.clients[cid] = {
            "secret": token("", 96),
            "name": name,
            "scopes": list(scopes),
            "grant_types": set(grants),
            "redirect_uris": list(redirects),
            "issuer_url": body.get("issuerUrl"),
            "expires_at": expires,
        }
        return 200, {
            "clientId": cid,
            "clientSecret": self.clients[cid]["secret"],
            "clientIdIssuedAt": issued,
            "clientSecretExpiresAt": expires,
        }

    def start_device_authorization(self, body, base):
        cid, _ = self.client(body, DEVICE_GRANT)
        start_url = body.get("startUrl")
        if not start_url:
            raise ApiError("InvalidRequestException", "startUrl is required")
        device_code = token("", 48)
        alphabet = "BCDFGHJKLMNPQRSTVWXZ"
        user_code = "".join(secrets.choice(alphabet) for _ in range(4)) + "-" + "".join(
            secrets.choice(alphabet) for _ in range(4)
        )
        cfg = self.config
        self.devices[device_code] = {
            "client": cid,
            "user_code": user_code,
            "start_url": start_url,
            "expires_at": now() + cfg["device_expires_in"],
            "status": "approved" if cfg["approve"] == "auto" else "pending",
            "used": False,
        }
        return 200, {
            "deviceCode": device_code,
            "userCode": user_code,
            "verificationUri": f"{base}/device",
            "verificationUriComplete": cfg.get("verification_uri_complete")
            or f"{base}/device?user_code={user_code}",
            "expiresIn": int(cfg["device_expires_in"]),
            "interval": int(cfg["device_interval"]),
        }

    def create_token(self, body):
        grant = body.get("grantType")
        if not grant:
            raise ApiError("InvalidRequestException", "grantType is required")
        if grant not in KNOWN_GRANTS:
            # Validate the client first, as the service does, then refuse the grant.
            self.client(body)
            raise ApiError("UnsupportedGrantTypeException", f"Unsupported grant type: {grant}")
        cid, client = self.client(body, grant)
        if grant == DEVICE_GRANT:
            return 200, self.device_grant(cid, client, body)
        if grant == "authorization_code":
            return 200, self.code_grant(cid, client, body)
        return 200, self.refresh_grant(cid, client, body)

    def device_grant(self, cid, client, body):
        code = body.get("deviceCode")
        if not code:
            raise ApiError("InvalidRequestException", "deviceCode is required")
        d = self.devices.get(code)
        if d is None or d["client"] != cid or d["used"]:
            raise ApiError("InvalidGrantException", "Invalid device code provided")
        if d["expires_at"] <= now():
            raise ApiError("ExpiredTokenException", "Device code has expired")
        if self.config["slow_down"] > 0:
            self.config["slow_down"] -= 1
            raise ApiError("SlowDownException", "Client is polling too quickly")
        if d["status"] == "denied":
            raise ApiError("AccessDeniedException", "The user denied the authorization request")
        if d["status"] != "approved":
            raise ApiError("AuthorizationPendingException", "Authorization is still pending")
        d["used"] = True
        sid = self.new_session(d["start_url"], client["scopes"])
        return self.issue(cid, client, sid)

    def code_grant(self, cid, client, body):
        for k in ("code", "redirectUri", "codeVerifier"):
            if not body.get(k):
                raise ApiError("InvalidRequestException", f"{k} is required")
        verifier = body["codeVerifier"]
        if not (43 <= len(verifier) <= 128) or not set(verifier) <= UNRESERVED:
            raise ApiError("InvalidRequestException", "Invalid code verifier")
        c = self.codes.get(body["code"])
        if c is None or c["used"] or c["client"] != cid or c["expires_at"] <= now():
            raise ApiError("InvalidGrantException", "Invalid authorization code provided")
        c["used"] = True
        if body["redirectUri"] != c["redirect_uri"]:
            raise ApiError("InvalidGrantException", "Redirect URI does not match the authorization request")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if not secrets.compare_digest(challenge, c["challenge"]):
            raise ApiError("InvalidGrantException", "Code verifier does not match the code challenge")
        sid = self.new_session(client["issuer_url"], c["scopes"] or client["scopes"])
        return self.issue(cid, client, sid)

    def refresh_grant(self, cid, client, body):
        rt = body.get("refreshToken")
        if not rt:
            raise ApiError("InvalidRequestException", "refreshToken is required")
        r = self.refresh.get(rt)
        if r is None or not r["valid"] or r["client"] != cid or not self.session_live(r["session"]):
            raise ApiError("InvalidGrantException", "Invalid refresh token provided")
        r["valid"] = False  # refresh tokens rotate: a used one is dead
        return self.issue(cid, client, r["session"])

    def authorize(self, q):
        """Returns (status, headers, body) for GET /authorize."""
        cid = q.get("client_id", "")
        c = self.clients.get(cid)
        if c is None or "authorization_code" not in c["grant_types"]:
            return 400, {}, "invalid client_id"
        redirect = q.get("redirect_uri", "")
        u = urllib.parse.urlsplit(redirect)
        ok = False
        for registered in c["redirect_uris"]:
            r = urllib.parse.urlsplit(registered)
            # Loopback redirect URIs match whatever port the client listens on (RFC 8252).
            if (u.scheme, u.hostname, u.path) == (r.scheme, r.hostname, r.path):
                ok = True
        if not ok:
            return 400, {}, "redirect_uri does not match the registration"

        def back(params):
            sep = "&" if "?" in redirect else "?"
            return 302, {"Location": redirect + sep + urllib.parse.urlencode(params)}, ""

        state = q.get("state", "")
        if not state:
            return back({"error": "invalid_request", "error_description": "state is required"})
        if q.get("response_type") != "code":
            return back({"error": "unsupported_response_type", "state": state})
        challenge = q.get("code_challenge", "")
        if q.get("code_challenge_method") != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
            return back(
                {
                    "error": "invalid_request",
                    "error_description": "code_challenge with code_challenge_method=S256 is required",
                    "state": state,
                }
            )
        scopes = [s for s in q.get("scopes", "").split(" ") if s]
        if c["scopes"] and not set(scopes) <= set(c["scopes"]):
            return back({"error": "invalid_scope", "state": state})
        mode = self.config["approve"]
        if mode == "ignore":
            return 200, {}, "<html><body>Waiting for you to sign in…</body></html>"
        if mode == "deny":
            return back({"error": "access_denied", "error_description": "The user denied access", "state": state})
        code = token("", 32)
        self.codes[code] = {
            "client": cid,
            "redirect_uri": redirect,
            "challenge": challenge,
            "scopes": scopes,
            "expires_at": now() + 300,
            "used": False,
        }
        return back({"code": code, "state": state})

    def verify_device(self, user_code):
        for d in self.devices.values():
            if d["user_code"] == user_code and not d["used"]:
                mode = self.config["approve"]
                if mode == "deny":
                    d["status"] = "denied"
                elif mode != "ignore":
                    d["status"] = "approved"
                return True
        return False

    # -- portal ------------------------------------------------------------------------------

    def role_arn(self, account, role):
        digest = hashlib.sha1(f"{account}/{role}".encode()).hexdigest()[:16]
        return f"arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_{role}_{digest}"

    def get_role_credentials(self, q, headers):
        role, account = q.get("role_name"), q.get("account_id")
        if not role or not account:
            raise ApiError("InvalidRequestException", "role_name and account_id are required")
        self.bearer(headers)
        a = self.accounts.get(account)
        if a is None or role not in a["roles"]:
            raise ApiError("ForbiddenException", "No access")
        creds = self.assume_role(self.role_arn(account, role))
        creds["sessionToken"] += self.config["role_token_suffix"]
        if self.config["role_expiration_offset"] is not None:
            creds["expiration"] = int((now() + self.config["role_expiration_offset"]) * 1000)
        return 200, {"roleCredentials": creds}

    def assume_role(self, arn):
        form = urllib.parse.urlencode(
            {
                "Action": "AssumeRole",
                "Version": "2011-06-15",
                "RoleArn": arn,
                "RoleSessionName": self.config["user"],
                "DurationSeconds": str(int(self.config["role_duration"])),
            }
        ).encode()
        req = urllib.request.Request(
            self.sts_url + "/",
            data=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                # moto reads the account from the signing key id; the signature is not checked.
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAFAKESSOPORTAL000/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                xml = resp.read()
        except (urllib.error.URLError, OSError) as e:
            raise ApiError("InternalServerException", f"STS unreachable: {e}")
        root = ET.fromstring(xml)

        def find(tag):
            for el in root.iter():
                if el.tag.endswith("}" + tag) or el.tag == tag:
                    return el.text
            raise ApiError("InternalServerException", f"STS answer without {tag}")

        exp = find("Expiration")
        exp_s = calendar.timegm(time.strptime(exp[:19], "%Y-%m-%dT%H:%M:%S"))
        return {
            "accessKeyId": find("AccessKeyId"),
            "secretAccessKey": find("SecretAccessKey"),
            "sessionToken": find("SessionToken"),
            "expiration": int(exp_s * 1000),
        }

    def page(self, items, q):
        size = q.get("max_result")
        if size is None:
            size = self.config["page_size"]
        else:
            try:
                size = int(size)
            except ValueError:
                raise ApiError("InvalidRequestException", "max_result must be a number")
            if not 1 <= size <= 100:
                raise ApiError("InvalidRequestException", "max_result must be between 1 and 100")
        # A service may answer a smaller page than asked for (with a next token).
        size = min(size, self.config["max_page"])
        start = 0
        nt = q.get("next_token")
        if nt:
            try:
                start = int(base64.urlsafe_b64decode(nt.encode()).decode().removeprefix("offset:"))
            except (ValueError, UnicodeDecodeError):
                raise ApiError("InvalidRequestException", "Invalid next_token")
        chunk = items[start : start + size]
        nxt = None
        if start + size < len(items):
            nxt = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
        return chunk, nxt

    def list_accounts(self, q, headers):
        self.bearer(headers)
        items = [
            {"accountId": k, "accountName": v["name"], "emailAddress": v["email"]}
            for k, v in sorted(self.accounts.items())
            if v["roles"]
        ]
        chunk, nxt = self.page(items, q)
        out = {"accountList": chunk}
        if nxt:
            out["nextToken"] = nxt
        return 200, out

    def list_account_roles(self, q, headers):
        account = q.get("account_id")
        if not account:
            raise ApiError("InvalidRequestException", "account_id is required")
        self.bearer(headers)
        a = self.accounts.get(account)
        if a is None or not a["roles"]:
            raise ApiError("ResourceNotFoundException", "Account not found")
        items = [{"roleName": r, "accountId": account} for r in a["roles"]]
        chunk, nxt = self.page(items, q)
        out = {"roleList": chunk}
        if nxt:
            out["nextToken"] = nxt
        return 200, out

    def logout(self, headers):
        _, a = self.bearer(headers)
        self.end_session(a["session"])
        return 200, None

    def end_session(self, sid):
        s = self.sessions.get(sid)
        if s:
            s["ended"] = True
        for r in self.refresh.values():
            if r["session"] == sid:
                r["valid"] = False

    # -- controls ----------------------------------------------------------------------------

    def counts(self):
        t = now()
        live = {k for k in self.sessions if self.session_live(k)}
        return {
            "sessions": len(live),
            "access_tokens": sum(
                1 for a in self.access.values() if a["session"] in live and a["expires_at"] > t
            ),
            "refresh_tokens": sum(1 for r in self.refresh.values() if r["valid"] and r["session"] in live),
            "clients": len(self.clients),
        }


RECORDED_HEADERS = (
    "user-agent",
    "content-type",
    "authorization",
    "x-amz-sso_bearer_token",
    "x-amz-user-agent",
    "amz-sdk-request",
)


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-sso/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake_sso: " + (fmt % args) + "\n")

    @property
    def state(self):
        return self.server.state

    def base(self):
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        return f"http://{host}"

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return raw

    def send(self, status, body=None, headers=None, ctype="application/json"):
        data = b""
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", secrets.token_hex(16))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def record(self, operation, q, body, status, error, grant=None, response=None):
        hdrs = {k: self.headers[k] for k in RECORDED_HEADERS if self.headers.get(k) is not None}
        self.state.requests.append(
            {
                "operation": operation,
                "grant_type": grant,
                "method": self.command,
                "path": urllib.parse.urlsplit(self.path).path,
                "query": q,
                "body": body,
                "headers": hdrs,
                "status": status,
                "error": error,
                "response": response,
                "time": now(),
            }
        )

    def do_HEAD(self):
        self.send(405)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        raw = self.read_body()
        route = (method, url.path.rstrip("/") or "/")
        st = self.state
        with st.lock:
            if route[1].startswith("/_fake/"):
                return self.control(route, q, raw)
            oidc = {
                ("POST", "/client/register"): "RegisterClient",
                ("POST", "/device_authorization"): "StartDeviceAuthorization",
                ("POST", "/token"): "CreateToken",
            }
            portal = {
                ("GET", "/federation/credentials"): "GetRoleCredentials",
                ("GET", "/assignment/accounts"): "ListAccounts",
                ("GET", "/assignment/roles"): "ListAccountRoles",
                ("POST", "/logout"): "Logout",
            }
            if route in oidc:
                return self.oidc(oidc[route], raw, q)
            if route in portal:
                return self.portal(portal[route], q)
            if route == ("GET", "/authorize"):
                status, headers, body = st.authorize(q)
                self.record("Authorize", q, None, status, None)
                return self.send(status, body, headers, ctype="text/html; charset=utf-8")
            if route == ("GET", "/device"):
                code = q.get("user_code", "")
                found = st.verify_device(code) if code else False
                self.record("DeviceVerification", q, None, 200 if found else 404, None)
                page = "<html><body>Request approved</body></html>" if found else "unknown user code"
                return self.send(200 if found else 404, page, ctype="text/html; charset=utf-8")
            self.record("Unknown", q, None, 404, "UnknownOperation")
            return self.send(404, {"message": f"no route {method} {url.path}"})

    def oidc(self, op, raw, q):
        st = self.state
        body = None
        try:
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError
            except ValueError:
                raise ApiError("InvalidRequestException", "Request body is not a JSON object")
            if op == "RegisterClient":
                status, out = st.register_client(body)
            elif op == "StartDeviceAuthorization":
                status, out = st.start_device_authorization(body, self.base())
            else:
                status, out = st.create_token(body)
            self.record(op, q, body, status, None, grant=(body or {}).get("grantType"), response=out)
            return self.send(status, out)
        except ApiError as e:
            status, code = OIDC_ERRORS[e.shape]
            self.record(op, q, body, status, e.shape, grant=(body or {}).get("grantType"))
            return self.send(
                status,
                {"error": code, "error_description": e.description},
                {"x-amzn-ErrorType": e.shape},
            )

    def portal(self, op, q):
        st = self.state
        hdrs = {"x-amz-sso_bearer_token": self.headers.get("x-amz-sso_bearer_token")}
        try:
            if op == "GetRoleCredentials":
                status, out = st.get_role_credentials(q, hdrs)
            elif op == "ListAccounts":
                status, out = st.list_accounts(q, hdrs)
            elif op == "ListAccountRoles":
                status, out = st.list_account_roles(q, hdrs)
            else:
                status, out = st.logout(hdrs)
            self.record(op, q, None, status, None, response=out)
            return self.send(status, out)
        except ApiError as e:
            status = PORTAL_ERRORS.get(e.shape, 500)
            self.record(op, q, None, status, e.shape)
            return self.send(status, {"message": e.description}, {"x-amzn-ErrorType": e.shape})

    def control(self, route, q, raw):
        st = self.state
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return self.send(400, {"message": "control body is not JSON"})
        method, path = route
        name = path[len("/_fake/") :]
        if method == "GET" and name == "requests":
            return self.send(200, st.requests)
        if method == "GET" and name == "state":
            return self.send(200, st.counts())
        if method != "POST":
            return self.send(404, {"message": f"no control {method} {name}"})
        if name == "reset-requests":
            st.requests.clear()
        elif name == "config":
            unknown = set(body) - set(st.config)
            if unknown:
                return self.send(400, {"message": f"unknown settings {sorted(unknown)}"})
            st.config.update(body)
        elif name == "expire-access-tokens":
            t = now()
            for a in st.access.values():
                a["expires_at"] = min(a["expires_at"], t)
        elif name == "end-sessions":
            for sid in list(st.sessions):
                st.end_session(sid)
        elif name == "assign":
            acct = st.accounts.setdefault(
                body["account_id"],
                {"name": body.get("account_name", body["account_id"]), "email": "x@example.com", "roles": []},
            )
            if body["role_name"] not in acct["roles"]:
                acct["roles"].append(body["role_name"])
        elif name == "unassign":
            acct = st.accounts.get(body["account_id"])
            if acct and body["role_name"] in acct["roles"]:
                acct["roles"].remove(body["role_name"])
        elif name == "approve":
            if not st.verify_device(body.get("user_code", "")):
                return self.send(404, {"message": "unknown user code"})
        else:
            return self.send(404, {"message": f"no control {name}"})
        return self.send(200, {"ok": True})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--sts", required=True, help="URL of the STS (moto) that makes role credentials")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.state = State(a.sts)
    srv.verbose = a.verbose
    print(f"FAKE_SSO_PORT={srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
