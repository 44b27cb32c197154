"""The one exception type for problems a user can fix (bad input, bad config, missing model)."""


class EmbtuneError(Exception):
    """A user-fixable problem. The message names the file, line or config key and says how to fix it."""


def user_error(exc: BaseException) -> EmbtuneError | None:
    """The EmbtuneError behind ``exc`` (Hydra's instantiate wraps errors raised in targets), if any; a config
    value left unset (``???``) is one too."""
    from omegaconf.errors import MissingMandatoryValue

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, EmbtuneError):
            return seen
        if isinstance(seen, MissingMandatoryValue):
            key = getattr(seen, "full_key", None) or "a config key"
            return EmbtuneError(f"{key} has no value (???). Fix: set it on the command line, e.g. {key}=<value>.")
        seen = seen.__cause__ or seen.__context__
    return None
