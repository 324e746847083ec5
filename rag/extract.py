"""Turning an uploaded file into plain text for RAG ingestion.

`extract(data, filename=…, content_type=…)` returns an `Extracted` (the text, a best-guess title
and the kind it was read as) or raises `ExtractionError`, a ValueError whose message is fit for a
client (the view answers it with a 400).

The kind comes from the content type when it names one of the accepted kinds, else from the file
name's extension, else from the bytes themselves (a `%PDF-` header, an HTML start tag, or text that
decodes cleanly). Each kind is read as follows:

- text and Markdown: UTF-8 (a byte-order mark is dropped), UTF-16 or UTF-32 when a byte-order
  mark says so, or the charset the content type declares; anything else is refused rather than
  guessed at. Markdown stays as it is, headings and all (chunking cuts at its blank lines); its
  title is its first heading.
- HTML: the visible text, read with the standard library's html.parser. Scripts, styles and the
  rest of the head except its title are dropped; block elements become line breaks (paragraphs
  and headings blank lines) so chunking can cut at them; entities are decoded and runs of spaces
  collapsed.
- PDF: the text of every page as pypdf extracts it, pages separated by blank lines; the title is
  the document information dictionary's /Title.

Line endings become `\\n` and the result may not be empty, longer than MAX_TEXT_CHARS or (for text)
hold NUL characters. Nothing here imports Django or the gateway: it is bytes in, text out.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from html.parser import HTMLParser

# The same bound as a JSON document's 'text' (rag/request.py MAX_TEXT_CHARS), kept here so this
# module stays free of Django and the gateway; tests/rag/test_extract.py checks the two agree.
MAX_TEXT_CHARS = 5_000_000
MAX_PDF_PAGES = 2_000

_KIND_BY_TYPE = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
}
_KIND_BY_EXTENSION = {
    "txt": "text",
    "text": "text",
    "md": "markdown",
    "markdown": "markdown",
    "html": "html",
    "htm": "html",
    "pdf": "pdf",
}
_ACCEPTED = (
    "plain text (text/plain, .txt), Markdown (text/markdown, .md), HTML (text/html, .html) "
    "and PDF (application/pdf, .pdf)"
)
# Content types that say nothing about the bytes: the file's name or its bytes decide.
_GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream")
# What a refused file most likely is, to say so in the message.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file, such as a WebP image or WAV audio"),
    (b"PK\x03\x04", "a ZIP archive, such as a Word, Excel or PowerPoint file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office file"),
    (b"{\\rtf", "an RTF document"),
    (b"%PDF-", "a PDF: send it as application/pdf or name it .pdf"),
)
_HTML_START = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]",
    re.IGNORECASE | re.DOTALL,
)
# The charset of a `<meta charset=…>` or `<meta http-equiv="Content-Type" content="…; charset=…">`,
# looked for in the first 1024 bytes as the HTML standard's prescan does
# (https://html.spec.whatwg.org/multipage/parsing.html#prescan-a-byte-stream-to-determine-its-encoding).
_META_CHARSET = re.compile(rb"<meta\s[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.IGNORECASE)
_CHARSET_PARAMETER = re.compile(r";\s*charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
# Control characters that do not occur in text files (tab, line feed, form feed, carriage return
# and escape do).
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str  # best guess: HTML <title>, PDF metadata title, first Markdown heading, else ""
    kind: str  # "text" | "markdown" | "html" | "pdf"


class ExtractionError(ValueError):
    """The file cannot be read as text; the message says why, in words fit for the client."""


def extract(data: bytes, *, filename: str = "", content_type: str = "") -> Extracted:
    media_type, charset = _parse_content_type(content_type)
    kind = _detect_kind(data, filename, media_type, charset)
    if kind == "pdf":
        from rag.pdf_text import read_pdf  # pypdf is loaded by the first PDF only

        text, title = read_pdf(data)
    elif kind == "html":
        text, title = _read_html(data, charset)
    else:
        text = _decode_text(data, charset)
        if "\x00" in text:
            raise ExtractionError(
                "the file holds NUL characters, so it is not text (UTF-16 needs a byte-order mark to be recognised)"
            )
        title = _markdown_title(text) if kind == "markdown" else ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ExtractionError("the file holds no text")
    if len(text) > MAX_TEXT_CHARS:
        raise ExtractionError(f"the file's text has {len(text)} characters; at most {MAX_TEXT_CHARS} are taken")
    return Extracted(text=text, title=_one_line(title), kind=kind)


def _parse_content_type(content_type: str) -> tuple[str, str]:
    """The media type, lowercased, and its charset parameter ("" when absent)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    match = _CHARSET_PARAMETER.search(content_type)
    return media_type, match.group(1) if match else ""


def _detect_kind(data: bytes, filename: str, media_type: str, charset: str) -> str:
    by_type = _KIND_BY_TYPE.get(media_type)
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    by_extension = _KIND_BY_EXTENSION.get(extension)
    if by_type == "text" and by_extension == "markdown":
        return "markdown"  # Markdown is plain text, and many clients label .md files text/plain
    kind = by_type or by_extension
    if kind:
        return kind
    head = data[:1024]
    # Readers look for the header within the first 1024 bytes (Adobe's PDF Reference 1.7, appendix H).
    if b"%PDF-" in head:
        return "pdf"
    if _HTML_START.match(head):
        return "html"
    # Text with no usable label (curl sends application/octet-stream for a file named "notes"):
    # taken when it decodes cleanly, unless the content type claims some other kind of file.
    if media_type in _GENERIC_TYPES or media_type.startswith("text/"):
        try:
            text = _decode_text(data, charset)
        except ExtractionError:
            text = None
        if text is not None and not _BINARY_CONTROL.search(text):
            return "text"
    raise ExtractionError(_refusal(data, name, media_type))


def _refusal(data: bytes, name: str, media_type: str) -> str:
    received = [f"content type {media_type!r}" if media_type else "no content type"]
    received.append(f"file name {name[:100]!r}" if name else "no file name")
    guess = _guess(data)
    looks = f" (it looks like {guess})" if guess else ""
    return f"got {' and '.join(received)}{looks}, which is not a kind of file read here; accepted are {_ACCEPTED}"


def _guess(data: bytes) -> str:
    """What kind of binary file `data` looks like ("" when none of the usual)."""
    return next((what for magic, what in _MAGIC if data.startswith(magic)), "")


def _decode_text(data: bytes, charset: str) -> str:
    """UTF-8 (BOM or not), UTF-16/32 with a BOM, or a declared charset; never a guess."""
    declared = _codec(charset)
    if declared:
        # "utf-8-sig" drops a leading BOM (Python docs, codecs: "Encodings and Unicode").
        try:
            return data.decode("utf-8-sig" if declared == "utf-8" else declared).removeprefix("\ufeff")
        except UnicodeError as exc:
            raise ExtractionError(f"the file is not {charset} text, as its content type says ({exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    # UTF-32 first: its little-endian BOM starts with UTF-16's. "utf-16"/"utf-32" read the BOM and drop it.
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ExtractionError(
                    f"the file has a {encoding.upper()} byte-order mark but is not {encoding.upper()}"
                ) from exc
    guess = _guess(data)
    where = f"it looks like {guess}" if guess else f"byte 0x{data[utf8_error.start]:02x} at offset {utf8_error.start}"
    raise ExtractionError(
        f"the file is not UTF-8 text ({where}); send text as UTF-8, as UTF-16 with a byte-order mark, "
        "or name its charset in the content type"
    )


def _codec(label: str) -> str:
    """Python's name for a text encoding label, or "" when Python has no such text encoding."""
    if not label:
        return ""
    try:
        name = codecs.lookup(label).name
        b"a".decode(name, errors="replace")  # refuses codecs that are not text encodings (rot13, base64, idna…)
    except (LookupError, UnicodeError, ValueError):
        return ""
    return name


# Markdown titles: an ATX heading (`# Title`) or a setext one (`Title` over `===` or `---`), outside
# fenced code, after any YAML front matter (CommonMark spec, https://spec.commonmark.org/).
_ATX_HEADING = re.compile(r" {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r" {0,3}(?:=+|-+)[ \t]*$")
_FENCE = re.compile(r" {0,3}(```|~~~)")
_NOT_PARAGRAPH = re.compile(r" {0,3}(?:[-*+>#|]|\d+[.)]|$)")


def _markdown_title(text: str) -> str:
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((index for index, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
        start = end + 1 if end is not None else 0
    fence = ""
    for index in range(start, len(lines)):
        line = lines[index]
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1) == fence:
                fence = ""
            continue
        if opened:
            fence = opened.group(1)
            continue
        atx = _ATX_HEADING.match(line)
        if atx and (atx.group(1) or "").strip():
            return atx.group(1)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        indented = line.startswith(("    ", "\t"))  # indented code
        if not indented and not _NOT_PARAGRAPH.match(line) and _SETEXT_UNDERLINE.match(following):
            return line
    return ""


def _one_line(title: str) -> str:
    return " ".join(title.replace("\x00", "").split())


# HTML (https://html.spec.whatwg.org/multipage/): elements whose content is never shown, elements
# that may sit in the head, and elements that break lines or start paragraphs.
_HIDDEN = frozenset({"script", "style", "noscript", "template"})
_HEAD_CONTENT = frozenset({"title", "meta", "link", "base", "style", "script", "noscript", "template"})
_PARAGRAPH_ELEMENTS = frozenset(
    "address article aside blockquote details dialog dl fieldset figure footer form h1 h2 h3 h4 h5 h6 header "
    "hgroup hr main nav ol p pre section table title ul".split()
)
_LINE_ELEMENTS = frozenset("br caption dd div dt figcaption legend li menu option summary tbody tfoot thead tr".split())
_CELL_ELEMENTS = frozenset({"td", "th"})
_SPACES = re.compile(r"\s+")
# WHATWG Encoding Standard: these labels mean windows-1252 (https://encoding.spec.whatwg.org/#names-and-labels).
_WINDOWS_1252 = frozenset({"iso8859-1", "ascii"})


class _VisibleText(HTMLParser):
    """Collects the text a browser would show, with line and paragraph breaks at block elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities decoded in handle_data (Python docs, html.parser)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._hidden = 0  # depth inside script, style, noscript, template
        self._svg = 0  # an <svg>'s <title> is a tooltip, not the page's
        self._pre = 0
        self._in_head = False
        self._in_title = False
        self._title_done = False
        self._pending_break = 0  # 0: none, 1: line break, 2: blank line
        self._space_pending = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self._in_head = True
        elif tag == "body" or (self._in_head and tag not in _HEAD_CONTENT):
            self._in_head = False
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "svg":
            self._svg += 1
        elif tag == "pre":
            self._pre += 1
        elif tag == "title" and not self._svg and not self._title_done:
            self._in_title = True
        if tag == "br":
            self._pending_break = min(self._pending_break + 1, 2)
        else:
            self._block(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag == "svg":
            self._svg = max(self._svg - 1, 0)
        elif tag == "pre":
            self._pre = max(self._pre - 1, 0)
        elif tag == "head":
            self._in_head = False
        elif tag == "title" and self._in_title:
            self._in_title = False
            self._title_done = True
        if tag != "br":
            self._block(tag)

    def _block(self, tag: str) -> None:
        if tag in _PARAGRAPH_ELEMENTS:
            self._pending_break = 2
        elif tag in _LINE_ELEMENTS:
            self._pending_break = max(self._pending_break, 1)
        elif tag in _CELL_ELEMENTS:
            self._space_pending = True

    def handle_data(self, data: str) -> None:
        if self._hidden or (self._in_head and not self._in_title):
            return
        if self._in_title:
            self.title_parts.append(data)
        if self._pre:  # kept as it is, line breaks and all
            self._emit(data.replace("\r\n", "\n").replace("\r", "\n"))
            return
        text = _SPACES.sub(" ", data)
        if text.startswith(" "):
            self._space_pending = True
        text = text.strip(" ")
        if text:
            self._emit(text)
            self._space_pending = data[-1].isspace()

    def _emit(self, text: str) -> None:
        if not text:
            return
        if self.parts:
            if self._pending_break:
                self.parts.append("\n" * self._pending_break)
            elif self._space_pending and not self.parts[-1].endswith(("\n", " ")):
                self.parts.append(" ")
        self._pending_break = 0
        self._space_pending = False
        self.parts.append(text)


def _read_html(data: bytes, declared_charset: str) -> tuple[str, str]:
    # Only HTML is decoded leniently: browsers show U+FFFD for bytes the charset lacks, and so do we.
    markup = data.decode(_html_encoding(data, declared_charset), errors="replace").removeprefix("\ufeff")
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts).replace("\x00", "")
    text = re.sub(r"[ \t]+\n", "\n", text)  # spaces ending lines inside <pre>
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip(), "".join(parser.title_parts)


def _html_encoding(data: bytes, declared_charset: str) -> str:
    """The HTML standard's order: a BOM, then the transport's charset, then a <meta>; else UTF-8."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return encoding
    declared = _html_codec(declared_charset)
    if declared:
        return declared
    meta = _META_CHARSET.search(data[:1024])
    found = _html_codec(meta.group(1).decode("ascii")) if meta else ""
    if found.startswith("utf-16"):
        return "utf-8"  # a <meta> that could be read as ASCII cannot mean UTF-16 (the prescan says so too)
    return found or "utf-8"


def _html_codec(label: str) -> str:
    name = _codec(label)
    return "cp1252" if name in _WINDOWS_1252 else name
