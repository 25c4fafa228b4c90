#!/usr/bin/env python3
"""Validates tests/login/fake_signin.py with the real client: botocore's own `login_session`
provider (LoginProvider / LoginCredentialFetcher, what the AWS CLI uses after `aws login`),
which reads the CLI's login cache, signs a DPoP proof with the cached key and refreshes through
the Sign-In service's CreateOAuth2Token.

Run by tests/login.rs with FAKE_SIGNIN_URL and an isolated HOME / AWS_CONFIG_FILE /
AWS_LOGIN_CACHE_DIRECTORY. Prints `ok: <check>` for every check that held; the Rust test compares
the list, so a check that silently did not run fails too. Any failure raises (exit 1).
Needs botocore[crt] (awscrt) for the P-256 key, as botocore itself says.
"""

import json
import os
import shutil
import urllib.request

import botocore.session
from botocore.exceptions import ClientError

FAKE = os.environ["FAKE_SIGNIN_URL"]
CACHE = os.environ["AWS_LOGIN_CACHE_DIRECTORY"]
SESSION = "arn:aws:iam::123456789012:user/Admin"


def ok(name):
    print(f"ok: {name}", flush=True)


def call(path, body=None):
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(FAKE + path, data=data, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def requests():
    with urllib.request.urlopen(FAKE + "/_fake/requests") as r:
        return json.loads(r.read())


with open(os.environ["AWS_CONFIG_FILE"], "w") as f:
    f.write(f"[profile console]\nlogin_session = {SESSION}\nregion = eu-west-1\n")

# `aws login` as the CLI leaves it: an access token that has already expired.
path = call("/_fake/login", {"session": SESSION, "cache_dir": CACHE, "expires_in": -60})["path"]
before = json.load(open(path))


def fresh_credentials():
    s = botocore.session.Session(profile="console")
    return s.get_credentials().get_frozen_credentials()


creds = fresh_credentials()
reqs = requests()
assert len(reqs) == 1 and reqs[0]["status"] == 200, reqs
assert reqs[0]["dpop"] == "ok", reqs
assert creds.access_key == reqs[0]["access_key_id"], (creds.access_key, reqs)
ok("botocore refreshes an expired login session through the fake, DPoP proof verified")

after = json.load(open(path))
assert after["refreshToken"] != before["refreshToken"]
assert after["accessToken"]["accessKeyId"] == creds.access_key
assert after["accessToken"]["accountId"] == "123456789012"
assert after["dpopKey"] == before["dpopKey"]
ok("the refreshed token is written back to the CLI's cache, refresh token rotated")

creds2 = fresh_credentials()
assert creds2.access_key == creds.access_key and len(requests()) == 1
ok("a fresh cached access token is used without a refresh")

# A client that spends a refresh token twice (here: botocore from a stale copy) ends the session.
spent = dict(after)
spent["refreshToken"] = before["refreshToken"]
spent["accessToken"] = dict(after["accessToken"], expiresAt="2000-01-01T00:00:00Z")
shutil.copy(path, path + ".good")
json.dump(spent, open(path, "w"))
try:
    fresh_credentials()
    raise AssertionError("a spent refresh token was accepted")
except Exception as e:  # botocore wraps the service error in LoginRefreshRequired
    assert "login" in str(e).lower() or "TOKEN_EXPIRED" in str(e), e
assert requests()[-1]["error"] == "TOKEN_EXPIRED" and requests()[-1].get("reuse"), requests()[-1]
ok("reusing a spent refresh token is refused and ends the session")

json.dump(dict(after, accessToken=dict(after["accessToken"], expiresAt="2000-01-01T00:00:00Z")), open(path, "w"))
try:
    fresh_credentials()
    raise AssertionError("a refresh of an ended session succeeded")
except Exception:
    pass
assert requests()[-1]["error"] == "TOKEN_EXPIRED"
ok("after reuse, the session's current refresh token is dead too")

# A proof signed by another key is refused.
call("/_fake/login", {"session": "arn:aws:iam::123456789012:user/Other", "cache_dir": CACHE, "expires_in": -60})
other = os.path.join(CACHE, __import__("hashlib").sha256(b"arn:aws:iam::123456789012:user/Other").hexdigest() + ".json")
tok = json.load(open(other))
tok["dpopKey"] = before["dpopKey"]
json.dump(tok, open(other, "w"))
with open(os.environ["AWS_CONFIG_FILE"], "a") as f:
    f.write("[profile other]\nlogin_session = arn:aws:iam::123456789012:user/Other\nregion = eu-west-1\n")
try:
    botocore.session.Session(profile="other").get_credentials().get_frozen_credentials()
    raise AssertionError("a proof from the wrong key was accepted")
except Exception:
    pass
assert requests()[-1]["error"] == "invalid_grant", requests()[-1]
ok("a DPoP proof from a key the session is not bound to is refused")
