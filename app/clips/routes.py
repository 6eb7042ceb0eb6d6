"""Clip uploads (tus 1.0.0), officer review, access history and evidence holds."""
from apiflask import APIBlueprint

bp = APIBlueprint("clips", __name__, url_prefix="/api", tag="Clips")
