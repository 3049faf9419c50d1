"""Account order (seed 004): ``models`` (request, payloads, view block), ``policy``,
``declaration`` (states, actions, deadlines, transitions; ``ENTRY`` for the catalog),
``templates/`` (its emails) and ``README.md`` (its choices where the seed is silent)."""
