"""Thin views, one module per page family: parse the request, ask a service, render."""
