"""The clinic's web server: the demo page with the chat widget (``/``) and the staff console
(``/staff``). Started by ``make run`` on ``WEB_PORT``."""
