"""File writing that never leaves a half-written file, and safe model loading."""

import contextlib
import os
import pathlib
import tempfile
import zipfile

from absl import logging


@contextlib.contextmanager
def atomic_write(path, suffix=None):
    """Yield a temporary path beside `path`, then move it over `path`.

    The move is `os.replace`, atomic on POSIX within one file system, so a
    reader sees either the old file or the complete new one. If the body
    raises (for example on a full disk), the temporary file is removed
    and the previous `path` is left untouched.

    Example:
        with atomic_write("out/figure.png") as tmp:
            fig.savefig(tmp)
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffix: Keras and matplotlib pick the format from it.
    suffix = suffix if suffix is not None else "".join(path.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = pathlib.Path(tmp_name)
    # mkstemp creates 0600; give the file the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def check_output_dir(path, flag_name, received=None):
    """Raise a ValueError naming `flag_name` when the folder `path` cannot be created or written.

    Nothing is created, so a run that fails later on bad data leaves no empty
    folder. Call it before any expensive work (data scan, model build).
    `received` is the flag value shown in the message, `path` by default.
    """
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        problem = "is an existing file, not a folder"
    else:
        # The nearest existing ancestor decides whether the missing part can be created.
        ancestor = path.absolute()
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            problem = f"cannot be created because {ancestor} is a file, not a folder"
        elif not os.access(ancestor, os.W_OK | os.X_OK):
            problem = f"cannot be written because {ancestor} is not writable"
        else:
            return
    raise ValueError(
        f"Output folder {path} {problem}. Pass a new or existing folder path that you can write. "
        f"Received: {flag_name}={str(path if received is None else received)!r}"
    )


def write_text_atomic(path, text):
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_model_atomic(model, path):
    """Save `model` to a `.keras` file; on failure, keep the previous file and raise OSError.

    Raises:
        OSError: with the path and the cause (for example "No space left on
            device") when writing fails; the file at `path`, if any, is unchanged.
    """
    try:
        with atomic_write(path) as tmp:
            model.save(tmp)
    except OSError as error:
        raise OSError(
            error.errno,
            f"Saving the model to {path} failed ({error.strerror or error}). "
            "The previous file, if any, is unchanged. Free disk space or choose "
            "another --model_dir, then rerun.",
        ) from error


def _check_keras_archive(path):
    """Raise a ValueError naming `path` when it is not a complete zip archive.

    Keras reports a truncated archive as "File not found", which misleads, so
    the archive is checked here first (every member's CRC is verified).
    """
    corrupt = ValueError(
        f"Model file {path} is corrupt or truncated (not a complete .keras zip archive). "
        "Re-export or re-download it."
    )
    if not zipfile.is_zipfile(path):
        raise corrupt
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise corrupt from error
    if bad_member is not None:
        raise ValueError(
            f"Model file {path} is corrupt: member {bad_member!r} fails its CRC check. "
            "Re-export or re-download it."
        )


def load_model_safely(path, custom_objects=None, safe_mode=True):
    """Load a `.keras` file with Keras safe mode on, with errors that name the file.

    Safe mode rejects Lambda layers and other serialized Python code. Pass
    `safe_mode=False` only for files from a source you trust.
    """
    import keras

    # Register the package's layers and models so their names resolve.
    import keras_cartoon.models  # noqa: F401

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Model file not found: {path}. Check the path. Received: path={str(path)!r}")
    if path.suffix != ".keras":
        raise ValueError(
            f"Model files must be Keras v3 `.keras` archives. Received: path={str(path)!r}"
        )
    _check_keras_archive(path)
    try:
        return keras.models.load_model(path, custom_objects=custom_objects, safe_mode=safe_mode)
    except ValueError as error:
        if "safe_mode" in str(error) or "lambda" in str(error).lower():
            raise ValueError(
                f"Rejected {path}: it contains serialized Python code (for example a "
                "Lambda layer), which could run arbitrary code. If you trust its source, "
                "pass safe_mode=False (or --unsafe_load on the command line)."
            ) from error
        raise ValueError(f"Could not load model file {path}: {error}") from error
    except Exception as error:  # zipfile.BadZipFile, h5py errors inside the archive
        logging.debug("load_model failed for %s: %r", path, error)
        raise ValueError(
            f"Model file {path} is corrupt or truncated ({type(error).__name__}: {error}). "
            "Re-export or re-download it."
        ) from error
