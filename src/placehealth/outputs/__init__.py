"""Outputs: the CLI, the web app and API, reports and exports. Disclosure control sits here."""
