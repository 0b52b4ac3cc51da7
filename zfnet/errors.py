"""The project's own error classes: what a user did wrong, said in words.

Every error a user can cause (a bad option, a missing or malformed file, a
layer or channel that does not exist) is a :class:`ZfnetError`; its message
names the bad value and what would be accepted. The command line prints these
as one line and exits with status 2; any other exception is a bug and keeps
its traceback.

``ZfnetError`` derives from ``ValueError`` so callers that catch bad values
the Python way keep working.
"""


class ZfnetError(ValueError):
    """A user-facing error: bad input, named, with what would be accepted."""


class UsageError(ZfnetError):
    """A bad argument: unknown layer, method, channel, option value."""


class ConfigError(ZfnetError):
    """A network configuration that cannot be built."""


class DataError(ZfnetError):
    """A dataset or image file is missing, truncated or not in the expected format."""


class CheckpointError(ZfnetError):
    """A checkpoint is missing, incomplete or does not fit the model."""


class ImportFormatError(ZfnetError):
    """A weight file (ONNX, Keras HDF5) that cannot be imported, with the reason."""


class NotFound(UsageError, LookupError):
    """A name that does not exist here: an image id, a layer, a channel, a results file."""


class TrainingDiverged(ZfnetError, FloatingPointError):
    """The training loss became non-finite or far above chance: the settings need changing."""
