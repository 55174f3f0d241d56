"""How hits and assets read to people: labels, rows, CSV, the page an asset opens to."""
