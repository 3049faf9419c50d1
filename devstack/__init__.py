"""The local development stack: ``orderclock dev``, ``orderclock demo`` and the stand-ins.

The stand-ins for Stripe (``localstripe_server``), Salesforce (``salesforce_standin``) and an
SMTP server (``smtp_sink``) need packages of the ``dev`` dependency group (localstripe,
aiosmtpd, trustme), which the production image does not install (``uv sync --no-dev``).
Nothing outside this package and the tests imports them; ``tests/deploy/test_production_imports.py``
holds the API, the worker and the command line to that.
"""
