"""The automation API (``/api/v1/``) and its reference page (``/api/docs/``)."""
