"""Custom actions of the clinic assistant, served by the Rasa SDK action server.

One module per concern:

* ``settings``  - every setting read from the environment, in one place
* ``clinic``    - the clinic configuration file (``clinic.yml``)
* ``session``   - conversation start: clinic facts into slots
"""
