"""The `lmteams` command line: thin commands over the library."""
