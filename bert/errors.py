"""The one exception type for bad user input, in every command.

Anything the user can fix (an unknown task, a missing file, a malformed row, a flag that does not fit the
machine, a run folder in the way) raises `InputError` with a message that names the file, line or option at
fault. The command-line entry points print it as a single `error: ...` line and exit with status 2;
everything else is a bug and keeps its traceback.
"""


class InputError(Exception):
    """Bad input from the user: a message meant to be read, not a traceback."""
