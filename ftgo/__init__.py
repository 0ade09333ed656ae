"""FTGO's REST surface (``/ftgo/``): FTGO's routes, bodies and state names over TPFGo's application services."""
