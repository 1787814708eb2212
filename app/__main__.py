"""``python -m app`` runs the ``servicedeck`` command."""

import sys

from app.cli import main

sys.exit(main())
