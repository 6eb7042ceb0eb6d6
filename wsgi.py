"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""
import gc

from app import create_app

app = create_app()
# The app's start-up objects live for the whole process: moving them out of the
# collector's sight keeps full collections (the tail of large radius searches) short.
gc.freeze()
