"""`mmexam scan`: scanned paper exams in, answers.yaml and crops out.

pages (PDFs and images to grey pixels) -> identify (the page's QR code) ->
align (corner marks: page points to pixels) -> boxes (darkness of each tick
box, decided ticked / empty / ambiguous / cancelled) -> crops (written-answer
regions) -> answers (per student: answers.yaml as `mmexam grade` reads it) ->
report (scan-report.html) and resolve (a person settles every doubt).
"""

from mmexam.scan.run import ScanResult, scan_papers

__all__ = ["ScanResult", "scan_papers"]
