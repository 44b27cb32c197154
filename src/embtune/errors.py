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
        if isinstance(seen, TypeError) and "unexpected keyword argument" in str(seen):
            where = _full_key(exc)
            return EmbtuneError(
                f"config{' ' + where if where else ''}: {str(seen).splitlines()[0]}. Fix: drop the key or check its "
                "spelling against the group's YAML in conf/."
            )
        seen = seen.__cause__ or seen.__context__
    return None


def _full_key(exc: BaseException) -> str | None:
    """The config node Hydra's instantiate names in its error (``full_key: quality``), if any."""
    for line in str(exc).splitlines():
        if line.strip().startswith("full_key:"):
            return line.split(":", 1)[1].strip() or None
    return None
