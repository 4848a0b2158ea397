"""Keras's ImageNet weights for the CLI: fetched once (cached in ~/.keras/models), within a
time limit, and with one clear line, not Keras's own download output, when they cannot be."""

import contextlib
import io
import re
import socket

# Keras fetches its ImageNet weights with urllib's urlretrieve, which has no timeout of its
# own: on a network that drops packets (rather than refusing) a connect would wait for the
# kernel's TCP timeout, minutes. A socket default timeout bounds every connect and read.
IMAGENET_TIMEOUT_S = 20


def _why(message):
    """The cause in build_backbone's message: "... for ARCH (CAUSE). This machine ..."."""
    found = re.search(r"\((.*)\)\. This machine", message, re.S)
    cause = found.group(1) if found else message.strip().splitlines()[0]
    # urllib's "URL fetch failure on URL: None -- [Errno -2] Name or service not known"
    return cause.rsplit(" -- ", 1)[-1].strip().rstrip(".")


def fetch_imagenet(backbone, image_size):
    """Build ``backbone`` with ``weights="imagenet"`` (downloading them once); returns None
    when the weights are there, else why they could not be had (one short phrase)."""
    from skreid._keras import build_backbone

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(IMAGENET_TIMEOUT_S)
    try:
        # Keras prints "Downloading data from URL" and a progress bar on stdout: a half
        # line when the download fails; the caller says what happened instead
        with contextlib.redirect_stdout(io.StringIO()):
            build_backbone(backbone, (*image_size, 3), weights="imagenet")
    except ValueError as exc:
        return _why(str(exc))
    finally:
        socket.setdefaulttimeout(previous)
    return None
