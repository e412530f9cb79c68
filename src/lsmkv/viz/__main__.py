"""`python -m lsmkv.viz` is `lsmkv viz`."""

from . import main

raise SystemExit(main())
