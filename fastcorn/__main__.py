"""``python -m fastcorn``: the same as the ``fastcorn`` command."""

from fastcorn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
