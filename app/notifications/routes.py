"""Push subscriptions, the VAPID key, phone verification and the Twilio webhooks."""
from apiflask import APIBlueprint

bp = APIBlueprint("notifications", __name__, url_prefix="/api", tag="Notifications")
