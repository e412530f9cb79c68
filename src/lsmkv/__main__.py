"""`python -m lsmkv` is the `lsmkv` command."""

from .cli.main import main

raise SystemExit(main())
