"""Staff console: conversations, appointment requests, privacy operations (``/staff``).

* ``db``             staff tables (own MetaData, DATABASE_URL database) and their queries
* ``auth``           argon2 passwords, signed server-side sessions, CSRF, sign-in lock-out
* ``conversations``  Rasa's events table read as a conversation list (SQL) and transcripts
* ``privacy``        retention and forget-me
* ``training``       intents to choose from and the corrections export (Rasa NLU YAML)
* ``service``        what each page or API call does (blocking; run in worker threads)
* ``http``           sign-in checks, CSRF, cookies and rendering for the handlers
* ``live``           live chats: accept, reply, hand back, close (through Rasa's HTTP API),
                     presence, and what changed for the live page's event stream
* ``routes``, ``api``  HTML pages and the JSON API; ``routes.register`` adds both to the app
* ``live_views``     the live page, its forms and event stream, and ``/staff/api/live``
* ``context``        what the console needs at run time, built when the server starts
* ``manage``         ``python -m staff.manage`` commands
"""
