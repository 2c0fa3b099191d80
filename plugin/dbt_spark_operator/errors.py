"""The one exception type users see: a single line that names the problem."""


class DbtSparkOperatorError(Exception):
    """Bad input or a failed precondition, reported as one clear line (no traceback in the CLI)."""
