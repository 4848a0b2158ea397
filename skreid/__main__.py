"""``python -m skreid``: the same as the ``skreid`` command."""

from skreid.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
