"""``python -m gateway`` runs the ``consent-gateway`` command."""

import sys

from gateway.cli import main

sys.exit(main())
