"""The managers' lead-health board (issue 9): figures, the daily digest in chat and the `/board` web page.

    figures.py   pure: seeded histories in, figures per tenant / team / rep and window out, with their colours
    attention.py pure: which of a team's leads most need their manager (the digest's three, the overdue list)
    schedule.py  pure: on which mornings the digest goes out (the tenant's calendar and zone)
    queries.py   loads the inputs of one tenant in a few queries (SQLite and PostgreSQL alike)
    kept.py      the facts of each lead's events, kept with every change of its stage or holder, and rebuilt
    sums.py      the kept facts of a page's windows summed in one SQL pass (counts, median and p90 of first contacts)
    needs.py     the leads needing attention counted (per holder and reason) and ranked in SQL, a page at a time
    report.py    what one viewer's page shows, from the sums and the most pressing leads needing attention
    digest.py    the digest: one card per manager per working morning, through the alert chain
    access.py    one-time sign-in links and signed session cookies for the web page
    charts.py    small inline SVG charts, drawn on the server
"""
