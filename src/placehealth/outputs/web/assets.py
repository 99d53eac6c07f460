"""Install the front-end assets (JavaScript, CSS) the pages serve, at build time, never a CDN."""

from __future__ import annotations


def main() -> None:
    print("no front-end assets to install yet")


if __name__ == "__main__":
    main()
