"""rag/extract.py: uploaded bytes to text, per kind, and every way a file is refused.

The PDFs are written here byte by byte (pypdf reads and encrypts PDFs but has no API to draw text),
with xref offsets computed as the objects are laid out; test_the_handmade_pdf_is_well_formed
checks them with pypdf's strict reader.
"""

from __future__ import annotations

import io
import random
import re

import pytest
from pypdf import PdfReader, PdfWriter

from rag import extract as extract_module
from rag.extract import MAX_TEXT_CHARS, Extracted, ExtractionError, extract

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32


def make_pdf(*contents: bytes, title: str | None = None) -> bytes:
    """A PDF 1.4 with one page per content stream, Helvetica as /F1, and an /Info /Title if given."""
    first_page = 4  # objects 1-3: catalog, page tree, font; then a page and its content per page
    page_ids = [first_page + 2 * index for index in range(len(contents))]
    kids = b" ".join(b"%d 0 R" % number for number in page_ids)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(contents)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for number, content in zip(page_ids, contents, strict=True):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (number + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    trailer = b"/Size %d /Root 1 0 R" % (len(objects) + 2 if title is not None else len(objects) + 1)
    if title is not None:
        objects.append(b"<< /Title (%s) /Producer (tests/rag/test_extract.py) >>" % title.encode("latin-1"))
        trailer += b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")  # the binary comment line the spec recommends
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)  # 20 bytes each, as the spec wants
    out += b"trailer\n<< %s >>\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref_at)
    return bytes(out)


def text_page(text: str) -> bytes:
    return b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text.encode("latin-1")


BLANK_PAGE = b"0.5 g 72 72 468 648 re f"  # a filled rectangle: what a scan's page shows, no text operators
HELLO = make_pdf(text_page("Hello PDF"), text_page("Second page"), title="Quarterly report")


def encrypted(pdf: bytes, user_password: str, owner_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password=owner_password)  # RC4-128: no optional package
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def refusal(data: bytes, **kwargs: str) -> str:
    with pytest.raises(ExtractionError) as raised:
        extract(data, **kwargs)
    return str(raised.value)


# Plain text


def test_utf8_text_is_read_as_it_is() -> None:
    data = "Grüße aus Köln — 東京\n\nSecond paragraph.\n".encode()

    assert extract(data, filename="notes.txt", content_type="text/plain") == Extracted(
        text="Grüße aus Köln — 東京\n\nSecond paragraph.\n", title="", kind="text"
    )


def test_a_utf8_byte_order_mark_is_dropped() -> None:
    assert extract(b"\xef\xbb\xbfhello", content_type="text/plain").text == "hello"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_with_a_byte_order_mark_are_decoded(encoding: str) -> None:
    data = "\ufeffGrüße, 東京".encode(encoding)

    assert extract(data, filename="notes.txt").text == "Grüße, 東京"


def test_bytes_that_are_not_utf8_are_refused_not_mangled() -> None:
    message = refusal("café au lait".encode("latin-1"), filename="notes.txt", content_type="text/plain")

    assert "not UTF-8" in message and "0xe9 at offset 3" in message


def test_utf16_without_a_byte_order_mark_is_refused() -> None:
    message = refusal("hello".encode("utf-16-le"), content_type="text/plain")  # valid UTF-8, full of NULs

    assert "NUL" in message and "byte-order mark" in message


def test_a_charset_the_content_type_declares_is_used() -> None:
    data = "café".encode("latin-1")

    assert extract(data, content_type="text/plain; charset=ISO-8859-1").text == "café"
    assert "not utf-8 text" in refusal(data, content_type='text/plain; charset="utf-8"')


def test_line_endings_become_line_feeds() -> None:
    assert extract(b"one\r\ntwo\rthree\n", content_type="text/plain").text == "one\ntwo\nthree\n"


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n", "\ufeff \u3000".encode()])
def test_a_file_with_nothing_but_whitespace_holds_no_text(data: bytes) -> None:
    assert refusal(data, filename="empty.txt") == "the file holds no text"


def test_text_past_the_json_documents_limit_is_refused() -> None:
    from rag.request import MAX_TEXT_CHARS as JSON_LIMIT  # imports Django; this module does not

    assert MAX_TEXT_CHARS == JSON_LIMIT
    assert len(extract(b"a" * MAX_TEXT_CHARS, content_type="text/plain").text) == MAX_TEXT_CHARS
    assert str(MAX_TEXT_CHARS) in refusal(b"a" * (MAX_TEXT_CHARS + 1), content_type="text/plain")


# Markdown

NOTES = "# Feeding the cat\n\nThe cat eats *twice* a day.\n\n## Water\n\nFresh water sits next to the mat.\n"


def test_markdown_is_kept_as_it_is_with_its_first_heading_as_title() -> None:
    assert extract(NOTES.encode(), filename="notes.md", content_type="text/markdown") == Extracted(
        text=NOTES, title="Feeding the cat", kind="markdown"
    )


@pytest.mark.parametrize(
    ("markdown", "title"),
    [
        ("Intro line\n\n### Deep heading ###\n\n# Later", "Deep heading"),
        ("```bash\n# a shell comment\n```\n\n# Real title", "Real title"),
        ("~~~\n# in code\n~~~\n    # indented code\n\nSetext title\n============\n", "Setext title"),
        ("---\ntitle: front matter\n---\n\nPlain paragraph.\n\nSecond  one\n-----------\n", "Second one"),
        ("#hashtag is not a heading\n\n- item\n---\n", ""),
        ("No heading at all.\n", ""),
    ],
)
def test_the_markdown_title_is_the_first_heading_outside_code(markdown: str, title: str) -> None:
    assert extract(markdown.encode(), filename="doc.markdown").title == title


def test_a_md_file_sent_as_text_plain_is_markdown() -> None:
    extracted = extract(NOTES.encode(), filename="notes.md", content_type="text/plain")

    assert (extracted.kind, extracted.title) == ("markdown", "Feeding the cat")


# HTML

PAGE = b"""<!DOCTYPE html>
<html><head>
  <meta name="viewport" content="width=device-width">
  <title>Garden   notes &amp; tips</title>
  stray head text
  <style>p { color: red }</style>
  <script>var secret = "</p>never indexed";</script>
</head>
<body>
  <noscript>Please enable JavaScript</noscript>
  <template><p>template text</p></template>
  <h1>Roses</h1>
  <p>Roses need sun &amp; water,
     not   &lt;shade&gt;&nbsp;&mdash; mostly.</p>
  <div>first line<br>second line</div>
  <ul><li>one</li><li>t<b>w</b>o</li></ul>
  <table><tr><th>Plant</th><td>Rose</td></tr><tr><th>Water</th><td>daily</td></tr></table>
  <pre>keep
    this   spacing</pre>
  <!-- a comment -->
  <svg><title>tooltip</title></svg>
  <script type="module">import "/app.js"; const hidden = "body script";</script>
  <style>.late { display: none }</style>
</body></html>"""


def test_html_is_read_as_its_visible_text_with_blocks_as_line_breaks() -> None:
    extracted = extract(PAGE, filename="garden.html", content_type="text/html")

    assert extracted == Extracted(
        text=(
            "Garden notes & tips\n\n"
            "Roses\n\n"
            "Roses need sun & water, not <shade> \u2014 mostly.\n\n"
            "first line\nsecond line\n\n"
            "one\ntwo\n\n"
            "Plant Rose\nWater daily\n\n"
            "keep\n    this   spacing\n\n"
            "tooltip"
        ),
        title="Garden notes & tips",
        kind="html",
    )


def test_scripts_styles_and_the_head_are_dropped() -> None:
    text = extract(PAGE, content_type="text/html").text

    hidden_texts = ("secret", "never indexed", "color", "JavaScript", "template text", "stray", "comment")
    for hidden in (*hidden_texts, "viewport", "body script", "display"):
        assert hidden not in text


@pytest.mark.parametrize(
    "meta", [b'<meta charset="iso-8859-1">', b'<meta http-equiv="Content-Type" content="text/html; charset=latin1">']
)
def test_html_charset_comes_from_a_meta_tag(meta: bytes) -> None:
    page = b"<html><head>" + meta + b"<title>Caf\xe9</title></head><body><p>cr\xe8me br\xfbl\xe9e</p></body></html>"

    assert extract(page, filename="menu.htm") == Extracted(text="Café\n\ncrème brûlée", title="Café", kind="html")


def test_html_labelled_latin1_is_read_as_windows_1252_as_browsers_do() -> None:
    page = b'<meta charset="ISO-8859-1"><p>\x93quoted\x94 \x80 5</p>'  # WHATWG Encoding Standard

    assert extract(page, content_type="text/html").text == "\u201cquoted\u201d \u20ac 5"


def test_html_charset_from_the_content_type_wins_over_the_meta_tag() -> None:
    page = '<meta charset="utf-8"><p>東京</p>'.encode("shift_jis")

    assert extract(page, content_type="text/html; charset=Shift_JIS").text == "東京"


def test_html_defaults_to_utf8_and_replaces_bytes_that_are_not() -> None:
    assert extract(b"<p>caf\xc3\xa9 \xff</p>", content_type="text/html").text == "café \ufffd"


def test_an_svg_title_is_not_the_page_title() -> None:
    page = b"<html><body><svg><title>icon</title></svg><p>Body</p><title>Late title</title></body></html>"

    assert extract(page, content_type="text/html").title == "Late title"


def test_html_with_only_scripts_holds_no_text() -> None:
    page = b"<html><head><title> </title><script>document.write('hi')</script></head><body> </body></html>"

    assert refusal(page, content_type="text/html") == "the file holds no text"


# PDF


def test_the_handmade_pdf_is_well_formed() -> None:
    reader = PdfReader(io.BytesIO(HELLO), strict=True)  # strict: a wrong xref offset raises

    assert len(reader.pages) == 2
    for number, offset in enumerate(reader.xref[0].values(), start=1):
        assert HELLO[offset:].startswith(b"%d 0 obj" % number)


def test_a_pdf_gives_the_text_of_every_page_and_its_title() -> None:
    assert extract(HELLO, filename="report.pdf", content_type="application/pdf") == Extracted(
        text="Hello PDF\n\nSecond page", title="Quarterly report", kind="pdf"
    )


def test_a_pdf_without_a_title_has_none_and_pages_without_text_are_skipped() -> None:
    pdf = make_pdf(text_page("Only this"), BLANK_PAGE, text_page("and this"))

    assert extract(pdf, content_type="application/pdf") == Extracted(text="Only this\n\nand this", title="", kind="pdf")


def test_nul_characters_a_pdf_yields_are_dropped() -> None:
    pdf = make_pdf(b"BT /F1 12 Tf 72 720 Td (NUL\\000gone) Tj ET")  # pypdf extracts "NUL\x00gone"

    assert extract(pdf, content_type="application/pdf").text == "NULgone"  # Postgres text cannot hold NUL


def test_a_pdf_with_no_text_is_refused() -> None:
    message = refusal(make_pdf(BLANK_PAGE, BLANK_PAGE), content_type="application/pdf")

    assert "no text" in message and "OCR" in message


def test_a_pdf_that_needs_a_password_is_refused() -> None:
    locked = encrypted(HELLO, user_password="secret", owner_password="owner")
    assert PdfReader(io.BytesIO(locked)).is_encrypted and b"Hello PDF" not in locked

    assert "encrypted and needs a password" in refusal(locked, filename="locked.pdf")


def test_a_pdf_encrypted_with_only_an_owner_password_is_read() -> None:
    restricted = encrypted(HELLO, user_password="", owner_password="owner")
    assert b"Hello PDF" not in restricted

    assert extract(restricted, filename="restricted.pdf").text == "Hello PDF\n\nSecond page"


@pytest.mark.parametrize(
    "data",
    [
        HELLO[: len(HELLO) // 2],
        HELLO[:40],
        b"%PDF-1.7\n",
        b"%PDF-1.4\n" + bytes(range(256)) * 8,
        HELLO.replace(b"/Root 1 0 R", b"/Root 9 0 R").replace(b"/Type /Catalog", b"/Type /Catalx"),
        HELLO.replace(b"/Kids [4 0 R 6 0 R]", b"/Kids 12"),
    ],
    ids=["truncated", "header-and-first-object", "header-only", "garbage", "no-catalog", "bad-page-tree"],
)
def test_a_corrupt_pdf_is_refused(data: bytes) -> None:
    assert "PDF" in refusal(data, content_type="application/pdf")


def test_damaged_pdfs_never_raise_anything_but_extraction_error() -> None:
    shuffle = random.Random(20240601)
    variants = [HELLO[:cut] for cut in range(0, len(HELLO), 7)]
    for _ in range(300):
        damaged = bytearray(HELLO)
        for _ in range(shuffle.randint(1, 8)):
            damaged[shuffle.randrange(len(damaged))] = shuffle.randrange(256)
        variants.append(bytes(damaged))
    for variant in variants:
        try:
            extracted = extract(variant, content_type="application/pdf")
        except ExtractionError:
            continue
        assert extracted.kind == "pdf" and extracted.text.strip()


def test_a_pdf_past_the_page_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_module, "MAX_PDF_PAGES", 1)

    assert refusal(HELLO, content_type="application/pdf") == "the PDF has 2 pages; at most 1 are read"


def test_a_pdf_whose_text_runs_past_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_module, "MAX_TEXT_CHARS", 15)

    assert "past 15 characters" in refusal(HELLO, content_type="application/pdf")


# Kind detection


def test_an_image_is_refused_naming_what_came_and_what_is_accepted() -> None:
    message = refusal(PNG, filename="cat.png", content_type="image/png")

    assert "'image/png'" in message and "'cat.png'" in message and "PNG image" in message
    assert all(accepted in message for accepted in ("text/plain", ".md", "text/html", "application/pdf"))


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (PNG, ""),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(40), "report.docx"),
        (b"\x00\x01\x02binary\x03", "blob.bin"),
    ],
)
def test_binary_files_sent_as_octet_stream_are_refused(data: bytes, filename: str) -> None:
    message = refusal(data, filename=filename, content_type="application/octet-stream")

    assert "'application/octet-stream'" in message and "accepted are" in message


def test_text_under_a_content_type_of_another_kind_is_refused() -> None:
    assert "'image/png'" in refusal(b"just words", filename="photo", content_type="image/png")


@pytest.mark.parametrize(
    ("filename", "data", "kind"),
    [
        ("notes.txt", b"plain words", "text"),
        ("NOTES.TEXT", b"plain words", "text"),
        ("dir/notes.md", b"# Title\n", "markdown"),
        ("C:\\docs\\page.HTM", b"<p>para</p>", "html"),
        ("page.html", b"<p>para</p>", "html"),
        ("report.pdf", HELLO, "pdf"),
    ],
)
def test_the_file_name_decides_when_the_content_type_does_not(filename: str, data: bytes, kind: str) -> None:
    for content_type in ("", "application/octet-stream"):
        assert extract(data, filename=filename, content_type=content_type).kind == kind


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (HELLO, "pdf"),
        (b"\n  <!DOCTYPE html><p>hi</p>", "html"),
        (b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- c --><HTML lang=en><body>hi", "html"),
        (b"plain words\twith a tab\n", "text"),
        ("\ufeffGrüße".encode("utf-16"), "text"),
    ],
    ids=["pdf-magic", "doctype", "xhtml", "utf8-text", "utf16-text"],
)
def test_the_bytes_decide_when_neither_type_nor_name_does(data: bytes, kind: str) -> None:
    for filename in ("", "upload.bin"):
        assert extract(data, filename=filename, content_type="application/octet-stream").kind == kind


def test_the_content_type_wins_over_the_name_and_its_parameters_are_ignored() -> None:
    extracted = extract(b"<p>a &amp; b</p>", filename="page.txt", content_type="Text/HTML; charset=utf-8")

    assert (extracted.kind, extracted.text) == ("html", "a & b")


def test_an_extraction_error_is_a_value_error_with_a_one_line_message() -> None:
    message = refusal(PNG, filename="x\ny.png")

    assert issubclass(ExtractionError, ValueError)
    assert not re.search(r"[\r\n]", message)
