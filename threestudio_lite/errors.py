"""Errors that the command line reports as one line on stderr with exit code 2 (bad input)."""


class UserError(ValueError):
    """Bad input from the user."""
