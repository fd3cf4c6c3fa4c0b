"""`mmexam build`: variant selection, rendering to Typst/PDF and HTML, starter code."""

from mmexam.build.exam import BuildResult, build_exam

__all__ = ["BuildResult", "build_exam"]
