"""The one error type of weight loading: it names the file, tensor or field at fault.

It is a `UserError` (a bad path, name or file is the user's input), so the CLI prints it
without a traceback; it is also a `ValueError` for library callers.
"""
from personax.cli import UserError


class ModelLoadError(UserError, ValueError):
    pass
