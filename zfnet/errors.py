"""The project's own error classes: what a user did wrong, said in words.

Every error a user can cause (a bad option, a missing or malformed file, a
layer or channel that does not exist, a full disk) is a :class:`ZfnetError`;
its message names the file or option, the bad value and what would be
accepted. The command line prints these as one line and exits with the
error's ``exit_code``: 2 for a usage error (the command line asked for
something that does not exist or cannot be), 1 for a runtime or data error
(a file's content, the disk, a diverging run). Any other exception is a bug
and keeps its traceback.

``ZfnetError`` derives from ``ValueError`` so callers that catch bad values
the Python way keep working.
"""


class ZfnetError(ValueError):
    """A user-facing error: bad input, named, with what would be accepted."""
    exit_code = 1


class UsageError(ZfnetError):
    """A bad argument: unknown layer, method, channel, option value."""
    exit_code = 2


class NotFound(UsageError, LookupError):
    """A name that does not exist here: an image id, a layer, a channel, a results file."""


class FileMissing(NotFound):
    """A file or folder named on the command line that does not exist."""


class TooLarge(UsageError):
    """An input over a size limit (an upload's pixels, a network's parameters)."""


class ConfigError(UsageError):
    """A network configuration that cannot be built."""


class DataError(ZfnetError):
    """A dataset or image file is missing, truncated or not in the expected format."""


class DataNotFound(DataError, NotFound):
    """A dataset that is not known or not fetched yet, or an image file that does not exist."""


class CheckpointError(ZfnetError):
    """A checkpoint is incomplete, malformed or does not fit the model."""


class CheckpointNotFound(CheckpointError, NotFound):
    """A path that is not a checkpoint folder."""


class ImportFormatError(ZfnetError):
    """A weight file (ONNX, Keras HDF5) that cannot be imported, with the reason."""


class TrainingDiverged(ZfnetError, FloatingPointError):
    """The training loss became non-finite or far above chance: the settings need changing."""


class RanksDiverged(ZfnetError):
    """Data-parallel training: the ranks' weights differ (a bug or a faulty machine)."""
