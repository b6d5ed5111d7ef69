"""``python -m n2ldiff`` runs the command-line interface."""

from n2ldiff.cli import main

main()
