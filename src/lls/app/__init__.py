"""The daemon's top layer (cli → app → {http, jobs} → domain): wiring, lifecycle, serving.

wiring.py     `build_app`: store, service, routes, reload hooks and jobs wired together
licensing.py  the `Licensing` facade on its store; commands run on it while no server runs
lifecycle.py  start and stop around the serving; a pair's node leads or stands by
listen.py     the listeners: TLS, bind errors that say why, the admin-exposure warning
daemon.py     `serve`: the data-directory lock, listeners, signals, systemd, the drain
"""
