"""Reading the dashboard's form posts within their limits (URL-encoded or multipart).

aiohttp's `request.post()` would buffer any body up to the app's 64 MiB limit for
every form; here a plain form is held to 64 KiB and only the file-upload forms get
the sealed-file limit, and a body is read only after the session and role passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web

from lls.errors import BadRequest, PayloadTooLarge
from lls.http.body import read_limited

FORM_LIMIT = 64 * 1024
MAX_FIELDS = 32


@dataclass(slots=True)
class Form:
    """A posted form: its text fields and its uploaded files (by field name)."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        return self.fields.get(name)

    def file_or_text(self, file_field: str, text_field: str) -> bytes:
        """An uploaded file, or else the text pasted beside it (empty when neither)."""
        data = self.files.get(file_field, b"")
        if data.strip():
            return data
        return (self.fields.get(text_field) or "").encode()


async def _read_multipart(request: web.Request, limit: int) -> Form:
    form = Form()
    reader = await request.multipart()
    total = 0
    for _ in range(MAX_FIELDS):
        part = await reader.next()
        if part is None:
            return form
        if not isinstance(part, BodyPartReader):
            raise BadRequest("nested multipart bodies are not accepted")
        chunks: list[bytes] = []
        while chunk := await part.read_chunk():
            total += len(chunk)
            if total > limit:
                raise PayloadTooLarge(f"the form is larger than {limit} bytes")
            chunks.append(chunk)
        data = b"".join(chunks)
        name = part.name or ""
        if part.filename is not None:
            form.files[name] = data
        else:
            form.fields[name] = data.decode("utf-8", errors="replace")
    raise BadRequest(f"a form has at most {MAX_FIELDS} fields")


async def read_form(request: web.Request, limit: int = FORM_LIMIT) -> Form:
    """The posted form; 413 past `limit` bytes, 400 for a body that is not a form."""
    kind = request.content_type
    if kind == "multipart/form-data":
        try:
            return await _read_multipart(request, limit)
        except (ValueError, AssertionError):  # aiohttp's word for a malformed multipart body
            raise BadRequest("the form's multipart body is malformed") from None
    raw = await read_limited(request, limit)
    if kind not in ("application/x-www-form-urlencoded", "") and raw:
        raise BadRequest(f"a form post must be URL-encoded or multipart, not {kind}")
    try:
        pairs = parse_qsl(
            raw.decode("utf-8", errors="replace"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:
        raise BadRequest(f"a form has at most {MAX_FIELDS} fields") from None
    return Form(fields=dict(pairs))
