"""`python -m lsmkv.bench`, the same as `lsmkv bench`."""

import sys

from . import main

sys.exit(main())
