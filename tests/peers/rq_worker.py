"""An RQ worker in its own process, for the tests that kill one mid-dispatch.

    python -m tests.peers.rq_worker --config '{"SQLALCHEMY_DATABASE_URI": ..., "REDIS_URL": ...}' \
        [--twilio http://127.0.0.1:PORT]

Builds the app (testing config plus the given overrides), points its Twilio client at
the local Twilio server when given, and works the queue through ``queue.run_worker``,
exactly as ``flask worker`` does, until killed.
"""
from __future__ import annotations

import argparse
import json

from app import create_app
from app.notifications import queue, sms
from tests.peers.twilio_api import LocalHttpClient


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--twilio")
    parser.add_argument("--burst", action="store_true")
    args = parser.parse_args()
    app = create_app("testing", json.loads(args.config))
    if args.twilio:
        sms.use_http_client(app, LocalHttpClient(args.twilio))
    with app.app_context():
        queue.run_worker(app, burst=args.burst)


if __name__ == "__main__":
    main()
