"""The one exception type that the command line turns into a single clear error line."""


class UserError(Exception):
    """Bad input from the user: config, data, paths or checkpoints.

    The CLI prints ``ifnd: error: <message>`` and exits with status 2, without a traceback.
    """
