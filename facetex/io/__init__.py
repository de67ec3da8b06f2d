"""Input and output: photo loading and atomic file writers."""
