"""The one exception type for problems a user can fix (bad input, bad config, missing model)."""


class EmbtuneError(Exception):
    """A user-fixable problem. The message names the file, line or config key and says how to fix it."""
