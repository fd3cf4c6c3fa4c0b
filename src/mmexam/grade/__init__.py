"""The grading workflow: intake, scoring, review sheets, reports and exports."""
