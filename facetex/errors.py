"""Errors raised by facetex.

Every error a user can cause (bad photo, missing database, bad settings) is a subclass of
:class:`FacetexError`; the CLI prints its message on one line and exits with status 2. Anything
else escaping the library is a bug.
"""

from __future__ import annotations


class FacetexError(Exception):
    """Base class of all user-facing facetex errors."""


class InputImageError(FacetexError, ValueError):
    """A photo or texture could not be read, or is unusable (corrupt, too large, wrong mode)."""


class NoFaceError(FacetexError):
    """No face was found in a photo."""


class FaceSelectionError(FacetexError, ValueError):
    """The requested face index does not exist in the photo."""


class ShapeMismatchError(FacetexError, ValueError):
    """Arrays or images that must agree in shape do not."""


class EmptyMaskError(FacetexError, ValueError):
    """A visibility mask hides every pixel, so nothing can be analysed."""


class WeightsError(FacetexError):
    """Bundled network weights are missing or do not match their checksum."""


class DatabaseError(FacetexError):
    """A texture database is missing, damaged, truncated, or of another schema."""


class FittingError(FacetexError):
    """Model fitting failed (diverged or left too few visible pixels)."""


class MissingDependencyError(FacetexError, ImportError):
    """An optional dependency (Mitsuba, dlib, Chromium, ...) is not installed."""


class OutputError(FacetexError):
    """An output location cannot be written."""


class PersonMismatchError(FacetexError, ValueError):
    """Photos given as one person show different people (face embeddings too far apart)."""
