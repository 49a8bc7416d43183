"""``python -m semrec.cli``."""

from semrec.cli import main

main()
