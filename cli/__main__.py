"""``python -m cli``: the same as the ``orderclock`` command."""

from cli.main import app

app(prog_name="orderclock")
