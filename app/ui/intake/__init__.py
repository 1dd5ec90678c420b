"""Where conversations start at the desk: the new-ticket form."""
