"""The read-only web page (``app.py``) and the self-contained daily report (``report.py``)."""
