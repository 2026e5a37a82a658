"""``python -m threestudio_lite`` runs the command-line interface."""

from .cli import main

main()
