"""`mmexam review`: TAs grade by printed question slot in the browser (see `app`)."""
