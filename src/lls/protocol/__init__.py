"""What both ends of the wire share, defined once: the server layers and the client SDK import it.

- `reasons`: `AuthStatus` and the refusal `Reason` codes (api.md §2, §4).
- `shapes`: the `Contact` and the feature (`FeatureInfo`) of a ValidationResponse,
  and the bounded string types of requests.
- `offline`: the four offline activation documents (sync-format.md §4).
- `json_depth`: how deep a JSON text nests, asked before any decoder recurses into it
  (the server of every request body and file, the SDK of every answer).
- `machine`: what identifies this machine — the server's tolerant fingerprint and
  the material the client's default `authContext` is derived from.

This package imports nothing of `lls` but itself (tests/test_contracts.py), so the
client SDK can use it without pulling in a server layer.
"""
