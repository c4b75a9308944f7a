"""Images among uploads, told by their bytes: re-encoded without metadata, with a thumbnail.

Only PNG, JPEG, GIF and WebP are images here; Pillow is asked to recognise nothing else,
whatever the file's name or declared type says. Re-encoding decodes every pixel and writes
new ones, so nothing of the original file travels but the picture: no EXIF (GPS position,
camera, time), no XMP, no comments, no ICC profile.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
THUMB_PX = 320
THUMB_TYPE = "image/webp"
# Per frame keys an animation needs; everything else in ``info`` is metadata and goes.
_KEEP_INFO = ("transparency", "duration", "loop", "background")

T = TypeVar("T")


class ImageRefused(Exception):
    """An image that is not stored; ``code`` and ``detail`` go into the 400 answer."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class CleanImage:
    """A re-encoded image and its thumbnail, ready to store."""

    data: io.BytesIO
    thumb: io.BytesIO
    type: str
    width: int
    height: int


def clean(stream: BinaryIO, max_pixels: int) -> CleanImage | None:
    """The image in ``stream`` re-encoded without metadata, or None when it is no image.

    Raises ImageRefused for a decompression bomb (more than ``max_pixels`` per frame) and for
    a file that claims to be an image but does not decode.
    """
    try:
        im = Image.open(stream, formats=list(FORMATS))
    except UnidentifiedImageError:
        return None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused("image_too_large", "this image has too many pixels") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # A known image signature whose headers are cut short or corrupt
        raise ImageRefused("invalid_image", "this image does not decode") from exc
    with im:
        if im.width * im.height > max_pixels:
            raise ImageRefused(
                "image_too_large",
                f"this image has {im.width}x{im.height} pixels; at most {max_pixels} are allowed",
            )
        fmt = im.format
        try:
            return _reencode(im, fmt)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            # Pillow's errors for a truncated or corrupt file that looked like an image
            raise ImageRefused("invalid_image", f"this {fmt} image does not decode") from exc


def _reencode(im: Image.Image, fmt: str) -> CleanImage:
    frames = getattr(im, "n_frames", 1)
    out = io.BytesIO()
    if frames > 1 and fmt in ("GIF", "WEBP"):
        shown = [_stripped(frame.copy()) for frame in ImageSequence.Iterator(im)]
        first = shown[0]
        extra = {"duration": [f.info.get("duration", 100) for f in shown]}
        if "loop" in im.info:
            extra["loop"] = im.info["loop"]
        first.save(out, fmt, save_all=True, append_images=shown[1:], **extra)
    else:
        ImageOps.exif_transpose(im, in_place=True)  # no copy of every pixel first
        first = _stripped(im)
        _save_still(first, out, fmt)
    out.seek(0)
    thumb = _thumbnail(first)
    return CleanImage(out, thumb, FORMATS[fmt], first.width, first.height)


def _stripped(im: Image.Image) -> Image.Image:
    """The frame with its pixels and the few keys drawing needs, every other key gone."""
    im.load()
    im.info = {k: im.info[k] for k in _KEEP_INFO if k in im.info}
    return im


def _save_still(im: Image.Image, out: BinaryIO, fmt: str) -> None:
    if fmt == "JPEG":
        if im.mode not in ("RGB", "L", "CMYK"):
            im = im.convert("RGB")
        im.save(out, "JPEG", quality=90)
    elif fmt == "WEBP":
        im.save(out, "WEBP", quality=90)
    else:
        im.save(out, fmt)


def _thumbnail(im: Image.Image) -> io.BytesIO:
    small = im.convert("RGBA" if _has_alpha(im) else "RGB")
    small.thumbnail((THUMB_PX, THUMB_PX))
    out = io.BytesIO()
    small.save(out, "WEBP", quality=80)
    out.seek(0)
    return out


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info


def offloaded(fn: Callable[..., T], *args: object) -> T:
    """Runs ``fn`` off the event loop when gevent serves (one image at a time per process).

    Decoding a photo takes a few hundred ms of CPU; Pillow releases the GIL meanwhile, so a
    native thread keeps the relay answering, and one thread bounds the memory of decoding.
    """
    pool = _pool()
    return pool.apply(fn, args) if pool is not None else fn(*args)


_pools: list = []


def _pool():
    try:
        from gevent import monkey
    except ImportError:
        return None
    if not monkey.is_module_patched("threading"):
        return None  # flask run (threading): the request has its own thread already
    if not _pools:
        from gevent.threadpool import ThreadPool

        _pools.append(ThreadPool(1))
    return _pools[0]
