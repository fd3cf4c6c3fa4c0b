"""mmexam: author, render and autograde the Multimodal AI midterm."""

__version__ = "0.1.0"
