"""The web app: HTML pages and the JSON API over one set of functions."""
