"""Serves the PWA's files from pwa/ (the app itself is its own issue) and the /e/<code> page."""
from pathlib import Path

from flask import Blueprint, send_from_directory

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"

bp = Blueprint("pwa", __name__)


@bp.get("/")
def index():
    return send_from_directory(PWA_DIR, "index.html")


@bp.get("/e/<string:code>")
def enroll(code: str):
    # The page reads the code from its own URL; the file is the same for every code.
    return send_from_directory(PWA_DIR, "enroll.html")


@bp.get("/app/<path:filename>")
def asset(filename: str):
    # send_from_directory refuses paths that leave PWA_DIR.
    return send_from_directory(PWA_DIR, filename)
