"""`python -m textmtl.cli` (how torchrun starts the processes)."""

from . import main

main()
