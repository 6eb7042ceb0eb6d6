"""The baseline of bench/load.py: a bare Flask "hello", served by the same gunicorn settings."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
