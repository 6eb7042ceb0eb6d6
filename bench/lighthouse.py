"""Lighthouse 11 on the PWA's screens: the owner's inbox and the officer's new request.

    .venv/bin/python bench/lighthouse.py
    .venv/bin/python bench/lighthouse.py --url owner=/#/inbox --url officer=/#/officer/new --runs 3
    .venv/bin/python bench/lighthouse.py --url /                 # a page seen signed out
    .venv/bin/python bench/lighthouse.py --base-url http://127.0.0.1:5000   # a server already running

Needs ``npm ci`` (Lighthouse 11.x is pinned in package.json: 12 dropped the PWA
category and 13 needs Node 22) and Debian's chromium at /usr/bin/chromium.

Unless ``--base-url`` is given the script serves the app itself the way the browser
tests do (tests/browser/liveserver.py): gunicorn on a free port, a temporary instance
directory with an SQLite database, migrated, demo data loaded. Lighthouse cannot sign
in by itself, so each ``--url ROLE=PATH`` is audited with the session cookie of that
demo account (signed in through the API with ``requests``) sent as an extra header;
a PATH without ``ROLE=`` is audited signed out. The demo officer and supervisor sign in
with a two-step code as well: on the script's own server their authenticator is set up
at the first sign-in (pyotp plays the app); with ``--base-url`` give each one's secret
(``--totp-secret officer=BASE32SECRET``). A page audited as a role must be that role's
screen: the script stops if the app's ``/api/auth/me`` did not answer 200 during the
audit, or if Lighthouse ended on the sign-in form (a scored sign-in form is no figure).

Lighthouse runs as ``node_modules/.bin/lighthouse URL --form-factor=mobile
--only-categories=performance,accessibility,best-practices,pwa --output=json`` with
``CHROME_PATH=/usr/bin/chromium`` and the browser tests' Chromium flags (mobile emulation
and simulated throttling are Lighthouse's defaults). With ``--runs N`` each page is
audited N times and the median of each score is reported. The JSON reports are kept
in bench/_out/lighthouse/.

For each page the script prints the four category scores and the PWA installability
audits (with Lighthouse's reasons when one fails), and it ends with exactly one JSON
object on the last line. Targets (issue 15): every installability check passes,
performance >= 0.95, accessibility and best practices 1.0. ``--check`` exits 1 when a target
is missed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.liveserver import (  # noqa: E402
    DEMO_LOGINS,
    ApiSession,
    Authenticator,
    Authenticators,
    LiveServer,
    ServerError,
    session_caller,
)

LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = ("--headless=new --no-sandbox --disable-gpu --disable-background-networking "
                "--disable-component-update --disable-sync --no-first-run --disable-quic")
CATEGORIES = ("performance", "accessibility", "best-practices", "pwa")
TARGETS = {"performance": 0.95, "accessibility": 1.0, "best-practices": 1.0}  # issue 15
DEFAULT_URLS = ("owner=/#/inbox", "officer=/#/officer/new")
OUT_DIR = ROOT / "bench" / "_out" / "lighthouse"


def parse_target(spec: str) -> tuple[str | None, str]:
    """``"owner=/#/inbox"`` -> ("owner", "/#/inbox"); ``"/"`` -> (None, "/")."""
    role, sep, path = spec.partition("=")
    if not sep:
        role, path = None, spec
    if role is not None and role not in DEMO_LOGINS:
        raise SystemExit(f"--url {spec}: the role must be one of {', '.join(DEMO_LOGINS)}")
    if not path.startswith("/"):
        raise SystemExit(f"--url {spec}: give a path on the server, starting with /")
    return role, path


def run_lighthouse(url: str, cookie: str | None, report_path: Path) -> dict:
    command = [str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={report_path}",
               "--form-factor=mobile", f"--only-categories={','.join(CATEGORIES)}",
               f"--chrome-flags={CHROME_FLAGS}"]
    if cookie:
        command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 or not report_path.is_file():
        raise SystemExit(f"lighthouse failed on {url} (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(report_path.read_text())


def not_signed_in(lhr: dict) -> str | None:
    """Why the audited page is not a signed-in screen (None: it is one)."""
    requests = (lhr["audits"].get("network-requests", {}).get("details") or {}).get("items") or []
    me = [r.get("statusCode") for r in requests if r["url"].split("?")[0].endswith("/api/auth/me")]
    landed = lhr.get("finalDisplayedUrl") or lhr.get("finalUrl") or ""
    if not me or any(status != 200 for status in me):
        return f"/api/auth/me answered {me or 'nothing (never asked)'} (Lighthouse ended on {landed})"
    if "/signin" in landed.partition("#")[2]:
        return f"Lighthouse ended on the sign-in form: {landed}"
    return None


def installability(lhr: dict) -> tuple[dict[str, bool], list[str]]:
    """The PWA category's installability audits (pass or not) and Lighthouse's reasons for failures."""
    refs = lhr["categories"]["pwa"]["auditRefs"]
    checks, reasons = {}, []
    for ref in refs:
        if ref.get("group") != "pwa-installable":
            continue
        audit = lhr["audits"][ref["id"]]
        checks[ref["id"]] = audit.get("score") == 1
        if audit.get("score") != 1:
            items = (audit.get("details") or {}).get("items") or []
            reasons.extend(item.get("reason", json.dumps(item)) for item in items)
            if not items:
                reasons.append(audit.get("explanation") or audit.get("errorMessage") or audit["title"])
    return checks, reasons


def optimized(lhr: dict) -> dict[str, bool | None]:
    """The PWA category's other automatic audits (splash screen, theme colour, viewport, ...)."""
    return {ref["id"]: (None if lhr["audits"][ref["id"]].get("score") is None
                        else lhr["audits"][ref["id"]]["score"] == 1)
            for ref in lhr["categories"]["pwa"]["auditRefs"] if ref.get("group") == "pwa-optimized"}


def session_cookie(base_url: str, role: str, authenticators: Authenticators, *, set_up: bool) -> str:
    """Sign in as the demo ``role`` through the API; the Cookie header value of that session.

    The demo officer and supervisor sign in with a two-step code too: on our own server
    their authenticator is set up at the first sign-in (pyotp plays the app); on a
    server given with --base-url pass each one's secret with --totp-secret.
    """
    login, password = DEMO_LOGINS[role]
    session = ApiSession(base_url)
    try:
        authenticators.sign_in(session_caller(session), login, password, set_up=set_up)
    except ServerError as error:
        raise SystemExit(f"signing in as the demo {role} at {base_url} failed: {error}") from error
    return session.cookie_header


def audit_page(base_url: str, role: str | None, path: str, runs: int, out: Path, *,
               authenticators: Authenticators, set_up: bool) -> dict:
    url = base_url.rstrip("/") + path
    cookie = session_cookie(base_url, role, authenticators, set_up=set_up) if role else None
    lhrs = []
    for n in range(runs):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{role or 'anonymous'} {path}").strip("-")
        lhr = run_lighthouse(url, cookie, out / f"{slug}-{n + 1}.json")
        problem = not_signed_in(lhr) if role else None
        if problem:
            raise SystemExit(f"{path} was to be audited as the demo {role}, but the page audited is not "
                             f"signed in: {problem}")
        lhrs.append(lhr)
    scores = {c: statistics.median(lhr["categories"][c]["score"] or 0 for lhr in lhrs) for c in CATEGORIES}
    last = lhrs[-1]
    checks, reasons = installability(last)
    installable = bool(checks) and all(checks.values())
    met = installable and all(scores[c] >= t for c, t in TARGETS.items())
    landed = last.get("finalDisplayedUrl") or last.get("finalUrl")
    return {"role": role, "path": path, "url": url, "final_url": landed, "runs": runs,
            "scores": {c: round(s, 2) for c, s in scores.items()},
            "runs_scores": [{c: lhr["categories"][c]["score"] for c in CATEGORIES} for lhr in lhrs],
            "installable": installable, "installable_checks": checks, "installable_reasons": reasons,
            "pwa_optimized": optimized(last), "targets_met": met}


def print_page(page: dict) -> None:
    who = page["role"] or "signed out"
    print(f"{page['path']} as {who} ({page['url']}; Lighthouse ended on {page['final_url']})")
    scores = page["scores"]
    print("  " + "  ".join(f"{c} {scores[c]:.2f}" + (f" (target >= {TARGETS[c]})" if c in TARGETS else "")
                           for c in CATEGORIES))
    for audit_id, ok in page["installable_checks"].items():
        print(f"  installability: {audit_id}: {'pass' if ok else 'FAIL'}")
    for reason in page["installable_reasons"]:
        print(f"    - {reason}")
    others = ", ".join(f"{k} {'pass' if v else 'n/a' if v is None else 'FAIL'}"
                       for k, v in page["pwa_optimized"].items())
    print(f"  PWA optimized: {others}")
    print(f"  targets {'met' if page['targets_met'] else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", action="append", metavar="[ROLE=]PATH",
                        help=f"a page to audit, as a demo role (one of {', '.join(DEMO_LOGINS)}) or signed out; "
                             f"repeatable (default: {' '.join(DEFAULT_URLS)})")
    parser.add_argument("--runs", type=int, default=1, help="Lighthouse runs per page; scores are the medians")
    parser.add_argument("--base-url",
                        help="audit a server already running (with the demo data) instead of one of our own")
    parser.add_argument("--totp-secret", action="append", default=[], metavar="ROLE=SECRET",
                        help="with --base-url: the base32 secret of a demo staff account's authenticator app "
                             "(officers and supervisors sign in with its code); repeatable")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the JSON reports go")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    targets = [parse_target(spec) for spec in (args.url or DEFAULT_URLS)]
    if not LIGHTHOUSE.exists():
        raise SystemExit(f"{LIGHTHOUSE} is missing: run `npm ci` (make test does it)")
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium (make test does it as root)")
    version = subprocess.run([str(LIGHTHOUSE), "--version"], capture_output=True, text=True).stdout.strip()
    args.out.mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix="porchlight-lighthouse-"))
    server = None if args.base_url else LiveServer(tmp)
    authenticators = server.authenticators if server is not None else Authenticators()
    for spec in args.totp_secret:
        role, _, secret = spec.partition("=")
        if role not in DEMO_LOGINS or not secret:
            raise SystemExit(f"--totp-secret {spec!r}: give ROLE=SECRET with ROLE one of {', '.join(DEMO_LOGINS)}")
        authenticators[DEMO_LOGINS[role][0]] = Authenticator(secret=secret.replace(" ", "").upper())
    try:
        if server is not None:
            server.start()
        base_url = args.base_url or server.base_url
        pages = []
        for role, path in targets:
            # Our own server's demo staff set up their authenticator at the first sign-in;
            # someone else's server is not changed.
            page = audit_page(base_url, role, path, args.runs, args.out, authenticators=authenticators,
                              set_up=server is not None)
            print_page(page)
            pages.append(page)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "benchmark": "lighthouse", "lighthouse": version, "chromium": CHROMIUM, "form_factor": "mobile",
        "runs": args.runs, "targets": {**TARGETS, "installable": "every check passes"},
        "pages": [{k: p[k] for k in ("role", "path", "scores", "installable", "installable_checks",
                                     "installable_reasons", "targets_met")} for p in pages],
        "targets_met": all(p["targets_met"] for p in pages),
    }
    print(json.dumps(report))
    if args.check and not report["targets_met"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
