"""Footage requests (officers, supervisors) and asks (owners)."""
from apiflask import APIBlueprint

bp = APIBlueprint("footage", __name__, url_prefix="/api", tag="Footage requests")
