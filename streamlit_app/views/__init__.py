"""One module per page; each reads its widgets, calls pipeline/, renders the result."""
