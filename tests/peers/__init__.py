"""Real peers for the tests and benchmarks: a local Web Push service and a local Twilio API.

Both are small HTTP servers on 127.0.0.1 that speak the real protocols to the real
client libraries (pywebpush, twilio): the push service decrypts every message with
http_ece and checks the VAPID signature; the Twilio server answers the REST API the
twilio Client calls.
"""
