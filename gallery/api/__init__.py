"""The gallery's JSON API (/api/v1/), built with django-ninja: routes.py holds the
operations, schemas.py what they take and return, auth.py who is calling."""
