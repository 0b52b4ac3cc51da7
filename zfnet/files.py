"""Files that are either complete or absent: atomic writes for the whole project.

Every file is written to a temporary name in the target's folder, flushed to
disk and renamed into place; a folder (a checkpoint) is assembled under a
temporary name and renamed whole. A crash or a kill leaves the old version or
the new one, never a mixture. No Theano here.
"""
import errno
import io
import json
import os
import shutil
import tempfile

import numpy as np


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` via a temporary file + fsync + rename."""
    d = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):  # a rename over a folder fails naming the temporary file
        raise IsADirectoryError(errno.EISDIR, "Is a folder (give the name of a file to write)", path)
    os.makedirs(d, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    except OSError as e:  # name the file the user asked for, not our temporary name
        raise OSError(e.errno, e.strerror, path)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; use the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as e:  # name the user's path, not the temporary one
            raise OSError(e.errno, e.strerror, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())


def atomic_write_npz(path, arrays):
    """Write ``{name: array}`` as an ``.npz`` to ``path`` atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def write_folder(path, files):
    """Write a folder of files atomically.

    ``files`` maps file names to dicts (written as JSON) or to
    ``{name: array}`` mappings under a ``.npz`` name. An existing folder at
    ``path`` is replaced only once the new one is complete.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".tmp-", dir=parent)
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        for name, content in files.items():
            if name.endswith(".npz"):
                atomic_write_npz(os.path.join(tmp, name), content)
            else:
                atomic_write_json(os.path.join(tmp, name), content)
        if os.path.exists(path):
            trash = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".old-", dir=parent)
            os.rename(path, os.path.join(trash, "x"))
            os.rename(tmp, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, path)
        fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def fsync_dir(path):
    """fsync a directory so a rename inside it survives a crash (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
