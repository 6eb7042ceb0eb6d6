"""An RQ worker in its own process, for the tests that kill one mid-dispatch.

    python -m tests.peers.rq_worker --config '{"SQLALCHEMY_DATABASE_URI": ..., "REDIS_URL": ...}'

Builds the app (testing config plus the given overrides, which name the local Twilio
server in TWILIO_API_BASE_URL when SMS are sent) and works the queue through
``queue.run_worker``, exactly as ``flask worker`` does, until killed.
"""
from __future__ import annotations

import argparse
import json

from app import create_app
from app.notifications import queue


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--burst", action="store_true")
    args = parser.parse_args()
    app = create_app("testing", json.loads(args.config))
    with app.app_context():
        queue.run_worker(app, burst=args.burst)


if __name__ == "__main__":
    main()
