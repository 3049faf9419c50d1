"""What each flow is: one package per flow (``flows/<flow>/``), the declaration language
(``flows/spec.py``) and the catalog naming every flow (``flows/catalog.py``).

Pure code: no I/O, passed through the workflow sandbox, so the API, the workers and the
tests read the same declarations.
"""
