"""Ingest: receiver positions from files and live feeds into the database.

One module per format (sbs.py, table.py, modes.py), formats.py to pick one, validate.py for
the rules every position must pass, writer.py to validate and store parsed chunks.
"""
