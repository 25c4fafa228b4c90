#!/usr/bin/env python3
"""Validates tests/sso/fake_sso.py with real clients generated from the same service models as
the Rust SDK: boto3's `sso-oidc` and `sso` clients (every operation, both sign-in grants, the
refresh grant and the error codes) and botocore's SSO token provider (it refreshes an expired
access token from a token cache file, as AWS CLI v1 and v2 do).

Run by tests/sso.rs with FAKE_SSO_URL, MOTO_URL and an isolated HOME / AWS_CONFIG_FILE.
Prints `ok: <check>` for every check that held; the Rust test compares that list with the
expected one, so a check that silently did not run fails too. Any failure raises (exit 1).
"""

import base64
import datetime
import hashlib
import http.client
import json
import os
import secrets
import string
import time
import urllib.parse
import urllib.request

import boto3
import botocore.session
from botocore.exceptions import ClientError
from botocore.tokens import SSOTokenProvider

FAKE = os.environ["FAKE_SSO_URL"]
MOTO = os.environ["MOTO_URL"]
REGION = "eu-west-1"
START_URL = "https://d-9067c2a8f1.awsapps.com/start"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"

oidc = boto3.client("sso-oidc", region_name=REGION, endpoint_url=FAKE)
portal = boto3.client("sso", region_name=REGION, endpoint_url=FAKE)


def ok(name):
    print(f"ok: {name}", flush=True)


def control(path, body=None):
    req = urllib.request.Request(
        FAKE + "/_fake/" + path,
        data=json.dumps(body or {}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def recorded():
    with urllib.request.urlopen(FAKE + "/_fake/requests", timeout=10) as r:
        return json.load(r)


def get(url):
    """GET without following redirects: (status, Location header, body)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", u.path + ("?" + u.query if u.query else ""))
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, r.getheader("Location"), body


def expect_error(fn_, code_, status_, oauth_=None, message_=None, **kw):
    """Calls fn_(**kw) and checks it fails with error shape code_, HTTP status_, and (OIDC) the
    OAuth error oauth_ with a description containing message_."""
    try:
        fn_(**kw)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code_, f"expected {code_}, got {got}: {e.response}"
        st = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert st == status_, f"{code_}: HTTP {st}, expected {status_}"
        if oauth_ is not None:
            assert e.response.get("error") == oauth_, f"{code_}: error={e.response.get('error')!r}"
            assert e.response.get("error_description"), f"{code_}: no error_description"
        if message_ is not None:
            text = e.response.get("error_description") or e.response["Error"].get("Message")
            assert message_ in text, f"{code_}: {text!r} lacks {message_!r}"
        return e
    raise AssertionError(f"expected {code_}, the call succeeded")


# --- RegisterClient ---------------------------------------------------------------------------
reg = oidc.register_client(clientName="validate", clientType="public", scopes=["sso:account:access"])
assert reg["clientId"] and reg["clientSecret"]
assert reg["clientSecretExpiresAt"] > time.time() + 86400, reg
assert reg["clientIdIssuedAt"] <= time.time() + 1
ok("register_client")
expect_error(oidc.register_client, "InvalidScopeException", 400, "invalid_scope",
             clientName="x", clientType="public", scopes=["not a scope"])
expect_error(oidc.register_client, "InvalidClientMetadataException", 400, "invalid_client_metadata",
             clientName="x", clientType="confidential")
expect_error(oidc.register_client, "InvalidRedirectUriException", 400, "invalid_redirect_uri",
             clientName="x", clientType="public", grantTypes=["authorization_code"],
             redirectUris=["https://evil.example/cb"], issuerUrl=START_URL)
expect_error(oidc.register_client, "InvalidRequestException", 400, "invalid_request",
             clientName="x", clientType="public", grantTypes=["authorization_code"], issuerUrl=START_URL)
expect_error(oidc.register_client, "UnsupportedGrantTypeException", 400, "unsupported_grant_type",
             clientName="x", clientType="public", grantTypes=["password"])
ok("register_client_errors")
cid, csecret = reg["clientId"], reg["clientSecret"]

# --- device code grant ------------------------------------------------------------------------
expect_error(oidc.start_device_authorization, "InvalidClientException", 401, "invalid_client",
             clientId=cid, clientSecret="wrong", startUrl=START_URL)
dev = oidc.start_device_authorization(clientId=cid, clientSecret=csecret, startUrl=START_URL)
assert dev["userCode"] in dev["verificationUriComplete"], dev
assert dev["verificationUriComplete"].startswith(dev["verificationUri"]), dev
assert dev["interval"] >= 1 and dev["expiresIn"] >= 60, dev
ok("start_device_authorization")


def poll(device_code, client=(None, None)):
    c, s = client
    return oidc.create_token(clientId=c or cid, clientSecret=s or csecret, grantType=DEVICE,
                             deviceCode=device_code)


expect_error(poll, "AuthorizationPendingException", 400, "authorization_pending",
             device_code=dev["deviceCode"])
ok("device_authorization_pending")
control("config", {"slow_down": 1})
expect_error(poll, "SlowDownException", 400, "slow_down", device_code=dev["deviceCode"])
ok("device_slow_down")
status, _, _ = get(dev["verificationUriComplete"])
assert status == 200, status
tok = poll(dev["deviceCode"])
assert tok["tokenType"] == "Bearer" and tok["accessToken"] and tok["refreshToken"], tok
assert 0 < tok["expiresIn"] <= 3600, tok
ok("device_token")
expect_error(poll, "InvalidGrantException", 400, "invalid_grant", device_code=dev["deviceCode"])
ok("device_code_single_use")
control("config", {"approve": "deny"})
denied = oidc.start_device_authorization(clientId=cid, clientSecret=csecret, startUrl=START_URL)
get(denied["verificationUriComplete"])
expect_error(poll, "AccessDeniedException", 400, "access_denied", device_code=denied["deviceCode"])
control("config", {"approve": "visit", "device_expires_in": 1})
short = oidc.start_device_authorization(clientId=cid, clientSecret=csecret, startUrl=START_URL)
time.sleep(1.2)
expect_error(poll, "ExpiredTokenException", 400, "expired_token", device_code=short["deviceCode"])
control("config", {"device_expires_in": 600})
ok("device_denied_and_expired")

# --- authorization code grant with PKCE --------------------------------------------------------
auth = oidc.register_client(
    clientName="validate-auth", clientType="public",
    grantTypes=["authorization_code", "refresh_token"],
    redirectUris=["http://127.0.0.1/oauth/callback"], issuerUrl=START_URL,
    scopes=["sso:account:access"],
)
acid, asecret = auth["clientId"], auth["clientSecret"]
expect_error(poll, "UnauthorizedClientException", 400, "unauthorized_client",
             device_code="x", client=(acid, asecret))
ok("auth_client_cannot_device_grant")


def pkce():
    verifier = "".join(secrets.choice(string.ascii_letters + string.digits + "-._~") for _ in range(64))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize_url(client_id, redirect, state, challenge, method="S256"):
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect,
        "state": state, "code_challenge_method": method, "scopes": "sso:account:access",
    })
    return f"{FAKE}/authorize?{q}&code_challenge={challenge}"


redirect = "http://127.0.0.1:53127/oauth/callback"
verifier, challenge = pkce()
status, loc, _ = get(authorize_url(acid, redirect, "st-1", challenge))
assert status == 302 and loc.startswith(redirect + "?"), (status, loc)
back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
assert back["state"] == "st-1" and back["code"], back
ok("authorize_redirects_with_code_and_state")
status, loc, _ = get(authorize_url("unknown", redirect, "s", challenge))
assert status == 400 and loc is None, (status, loc)
status, loc, _ = get(authorize_url(acid, "http://127.0.0.1:1/elsewhere", "s", challenge))
assert status == 400 and loc is None, (status, loc)
status, loc, _ = get(authorize_url(acid, redirect, "s", challenge, method="plain"))
assert status == 302 and "error=invalid_request" in loc, loc
status, loc, _ = get(authorize_url(acid, redirect, "", challenge))
assert status == 302 and "error=invalid_request" in loc, loc
ok("authorize_checks")


def code_token(code, verifier, redirect_uri):
    return oidc.create_token(clientId=acid, clientSecret=asecret, grantType="authorization_code",
                             code=code, codeVerifier=verifier, redirectUri=redirect_uri)


expect_error(code_token, "InvalidGrantException", 400, "invalid_grant",
             code=back["code"], verifier=pkce()[0], redirect_uri=redirect)
# A code is single use, even after a failed exchange.
expect_error(code_token, "InvalidGrantException", 400, "invalid_grant",
             code=back["code"], verifier=verifier, redirect_uri=redirect)
verifier, challenge = pkce()
_, loc, _ = get(authorize_url(acid, redirect, "st-2", challenge))
code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))["code"]
expect_error(code_token, "InvalidGrantException", 400, "invalid_grant",
             code=code, verifier=verifier, redirect_uri="http://127.0.0.1:1/oauth/callback")
verifier, challenge = pkce()
_, loc, _ = get(authorize_url(acid, redirect, "st-3", challenge))
code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))["code"]
atok = code_token(code, verifier, redirect)
assert atok["accessToken"] and atok["refreshToken"], atok
ok("authorization_code_token")
control("config", {"approve": "deny"})
_, loc, _ = get(authorize_url(acid, redirect, "st-4", pkce()[1]))
assert "error=access_denied" in loc and "state=st-4" in loc, loc
control("config", {"approve": "visit"})
ok("authorize_denied")

# --- refresh token grant ------------------------------------------------------------------------
def refresh(rt, client=(acid, asecret)):
    return oidc.create_token(clientId=client[0], clientSecret=client[1], grantType="refresh_token",
                             refreshToken=rt)


new = refresh(atok["refreshToken"])
assert new["accessToken"] != atok["accessToken"] and new["refreshToken"] != atok["refreshToken"], new
expect_error(refresh, "InvalidGrantException", 400, "invalid_grant", "Invalid refresh token provided",
             rt=atok["refreshToken"])
ok("refresh_token_rotates")
expect_error(oidc.create_token, "UnsupportedGrantTypeException", 400, "unsupported_grant_type",
             clientId=acid, clientSecret=asecret, grantType="password")
expect_error(oidc.create_token, "InvalidClientException", 401, "invalid_client",
             clientId=acid, clientSecret="wrong", grantType="refresh_token", refreshToken="x")
ok("create_token_errors")
legacy = oidc.register_client(clientName="legacy", clientType="public")
ldev = oidc.start_device_authorization(clientId=legacy["clientId"], clientSecret=legacy["clientSecret"],
                                       startUrl=START_URL)
control("approve", {"user_code": ldev["userCode"]})
ltok = poll(ldev["deviceCode"], client=(legacy["clientId"], legacy["clientSecret"]))
assert "refreshToken" not in ltok, ltok
ok("legacy_client_no_refresh_token")

# --- portal -------------------------------------------------------------------------------------
bearer = new["accessToken"]
accounts = [a for page in portal.get_paginator("list_accounts").paginate(accessToken=bearer)
            for a in page["accountList"]]
assert [a["accountId"] for a in accounts] == ["111111111111", "222222222222", "333333333333"], accounts
assert accounts[0]["accountName"] == "dev" and accounts[0]["emailAddress"], accounts
one = portal.list_accounts(accessToken=bearer, maxResults=1)
assert len(one["accountList"]) == 1 and one["nextToken"], one
two = portal.list_accounts(accessToken=bearer, maxResults=1, nextToken=one["nextToken"])
assert two["accountList"][0]["accountId"] == "222222222222", two
ok("list_accounts_paginated")
roles = [r for page in portal.get_paginator("list_account_roles").paginate(
    accessToken=bearer, accountId="333333333333") for r in page["roleList"]]
assert [r["roleName"] for r in roles] == ["Admin", "PowerUser", "ReadOnly"], roles
assert all(r["accountId"] == "333333333333" for r in roles)
ok("list_account_roles_paginated")
rc = portal.get_role_credentials(accessToken=bearer, accountId="111111111111", roleName="Admin")
creds = rc["roleCredentials"]
assert creds["accessKeyId"].startswith("ASIA") and creds["secretAccessKey"] and creds["sessionToken"], creds
assert creds["expiration"] > time.time() * 1000 + 600_000, f"expiration is not epoch ms: {creds['expiration']}"
assert creds["expiration"] < time.time() * 1000 + 13 * 3600_000, creds["expiration"]
ident = boto3.client(
    "sts", region_name=REGION, endpoint_url=MOTO,
    aws_access_key_id=creds["accessKeyId"], aws_secret_access_key=creds["secretAccessKey"],
    aws_session_token=creds["sessionToken"],
).get_caller_identity()
assert ident["Account"] == "111111111111", ident
assert ":assumed-role/AWSReservedSSO_Admin_" in ident["Arn"] and ident["Arn"].endswith("/sso-user"), ident
ok("get_role_credentials_answers_the_role")
expect_error(portal.get_role_credentials, "ForbiddenException", 403,
             accessToken=bearer, accountId="222222222222", roleName="Admin")
control("assign", {"account_id": "222222222222", "role_name": "Admin"})
portal.get_role_credentials(accessToken=bearer, accountId="222222222222", roleName="Admin")
control("unassign", {"account_id": "222222222222", "role_name": "Admin"})
expect_error(portal.get_role_credentials, "ForbiddenException", 403,
             accessToken=bearer, accountId="222222222222", roleName="Admin")
ok("unassigned_role_forbidden")
expect_error(portal.list_accounts, "UnauthorizedException", 401, accessToken="not-a-token")
expect_error(portal.list_account_roles, "ResourceNotFoundException", 404,
             accessToken=bearer, accountId="999999999999")
control("expire-access-tokens")
expect_error(portal.get_role_credentials, "UnauthorizedException", 401,
             accessToken=bearer, accountId="111111111111", roleName="Admin")
ok("dead_token_unauthorized")
after = refresh(new["refreshToken"])
portal.logout(accessToken=after["accessToken"])
expect_error(portal.list_accounts, "UnauthorizedException", 401, accessToken=after["accessToken"])
expect_error(refresh, "InvalidGrantException", 400, "invalid_grant", rt=after["refreshToken"])
ok("logout_ends_the_session")
headers = [r["headers"] for r in recorded() if r["operation"] in ("GetRoleCredentials", "ListAccounts")]
assert headers and all("x-amz-sso_bearer_token" in h and "authorization" not in h for h in headers), headers
assert all(
    "authorization" not in r["headers"] for r in recorded() if r["operation"] in ("RegisterClient", "CreateToken")
)
ok("requests_unsigned_with_bearer_header")

# --- botocore's SSO token provider refreshes from the token cache ---------------------------------
control("config", {"access_token_ttl": 3600})
sreg = oidc.register_client(clientName="botocore-client-corp", clientType="public",
                            scopes=["sso:account:access"])
sdev = oidc.start_device_authorization(clientId=sreg["clientId"], clientSecret=sreg["clientSecret"],
                                       startUrl=START_URL)
control("approve", {"user_code": sdev["userCode"]})
stok = poll(sdev["deviceCode"], client=(sreg["clientId"], sreg["clientSecret"]))
home = os.environ["HOME"]
config = os.environ["AWS_CONFIG_FILE"]
with open(config, "w") as f:
    f.write(
        f"[sso-session corp]\nsso_start_url = {START_URL}\nsso_region = {REGION}\n"
        "sso_registration_scopes = sso:account:access\n\n"
        "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Admin\n"
        f"region = {REGION}\n"
    )
cache_dir = os.path.join(home, ".aws", "sso", "cache")
os.makedirs(cache_dir, exist_ok=True)
cache_file = os.path.join(cache_dir, hashlib.sha1(b"corp").hexdigest() + ".json")
fmt = "%Y-%m-%dT%H:%M:%SZ"
past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)).strftime(fmt)
with open(cache_file, "w") as f:
    json.dump({
        "startUrl": START_URL, "region": REGION, "accessToken": stok["accessToken"],
        "expiresAt": past, "refreshToken": stok["refreshToken"], "clientId": sreg["clientId"],
        "clientSecret": sreg["clientSecret"],
        "registrationExpiresAt": datetime.datetime.fromtimestamp(
            sreg["clientSecretExpiresAt"], datetime.timezone.utc).strftime(fmt),
    }, f)
control("reset-requests")
os.environ["AWS_ENDPOINT_URL_SSO_OIDC"] = FAKE
session = botocore.session.Session(profile="dev")
frozen = SSOTokenProvider(session).load_token().get_frozen_token()
assert frozen.token != stok["accessToken"], "botocore did not refresh the expired token"
grants = [r["grant_type"] for r in recorded() if r["operation"] == "CreateToken"]
assert grants == ["refresh_token"], grants
with open(cache_file) as f:
    cached = json.load(f)
assert cached["accessToken"] == frozen.token and cached["refreshToken"] != stok["refreshToken"], cached
ok("botocore_token_provider_refreshes")
print("done", flush=True)
