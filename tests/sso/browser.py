#!/usr/bin/env python3
"""$BROWSER for tests: "opens" a URL by fetching it and following its redirects (the
authorization-code flow ends at the client's loopback callback), as a browser whose user
approves would. Returns at once, like a real browser launcher, and fetches in a child process,
after $BROWSER_DELAY seconds (default 0: a user who takes a moment).
A `file://` page (awsenv's private redirect page) is read and its meta refresh followed, as a
browser would; the URL logged is where it led.
Appends `<url> -> ok|error: …` to $BROWSER_LOG (default: this file's path + .log)."""
import html
import os
import re
import sys
import time
import urllib.parse
import urllib.request

url = sys.argv[1]
log = os.environ.get("BROWSER_LOG", __file__ + ".log")
if os.fork() == 0:
    time.sleep(float(os.environ.get("BROWSER_DELAY") or 0))
    try:
        if url.startswith("file://"):
            with open(urllib.parse.unquote(url[len("file://"):])) as f:
                page = f.read()
            m = re.search(r'http-equiv=refresh content="0;url=([^"]*)"', page)
            url = html.unescape(m.group(1)) if m else "no redirect in " + url
        with urllib.request.urlopen(url, timeout=20) as r:
            r.read()
        result = "ok"
    except Exception as e:  # noqa: BLE001 - the log is the report
        result = f"error: {e}"
    with open(log, "a") as f:
        f.write(f"{url} -> {result}\n")
    os._exit(0)
