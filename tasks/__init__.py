"""One folder per game: its env subclass, its data, its scripted policies."""
