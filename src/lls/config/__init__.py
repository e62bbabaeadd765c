"""The server's settings: declared once, read from the file, the environment and the flags.

This package is the only code that reads configuration files or the environment for the
server; each source is decoded by the same declaration.

declare.py   what one setting is (`Setting`) and how a `Config` field declares it
settings.py  `Config`, every setting as data, and the tables by key, variable and field
decode.py    one value from one source: its type, bounds and choices
files.py     lls.yaml with the line of every key; the seat policy file's text
load.py      all sources together (`load_config`) and the checks across settings
reload.py    what a reload changed and its report
"""
