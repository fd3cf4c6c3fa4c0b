"""The web app: the online exam (students) and its staff pages, on one database layer."""
