"""The text of an uploaded PDF, read with pypdf, for rag/extract.py.

Its limits and its error are extract's (read through the module, so one setting governs both).
"""

from __future__ import annotations

import io
import logging
from typing import Any

from rag import extract

log = logging.getLogger(__name__)

_NEEDS_PASSWORD = "the PDF is encrypted and needs a password; upload it without the password"


def read_pdf(data: bytes) -> tuple[str, str]:
    """Every page's text (pypdf, https://pypdf.readthedocs.io/en/stable/user/extract-text.html)."""
    # Imported here: pypdf costs each process ~25 MB, and only a PDF upload needs it.
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PyPdfError

    try:
        return _pdf_text(data)
    except extract.ExtractionError:
        raise
    except MemoryError:
        raise
    except FileNotDecryptedError as exc:
        raise extract.ExtractionError(_NEEDS_PASSWORD) from exc
    except DependencyError as exc:
        # AES needs the optional `cryptography` package (https://pypdf.readthedocs.io/en/stable/user/installation.html).
        raise extract.ExtractionError("the PDF is encrypted in a way this server cannot decrypt") from exc
    except LimitReachedError as exc:
        raise extract.ExtractionError(f"the PDF is too large to read ({exc})") from exc
    except PyPdfError as exc:
        raise extract.ExtractionError(f"the file is not a readable PDF ({exc})") from exc
    except Exception as exc:
        # Damaged or hostile files make pypdf raise more than its own errors (ValueError, KeyError,
        # RecursionError, zlib.error…): all of them mean this file cannot be read.
        log.info("pypdf could not read an uploaded PDF: %r", exc, exc_info=True)
        raise extract.ExtractionError("the file is not a readable PDF (it is damaged or malformed)") from exc


def _pdf_text(data: bytes) -> tuple[str, str]:
    from pypdf import PasswordType, PdfReader

    # The reader tries the empty user password by itself; an owner-password-only PDF opens
    # (https://pypdf.readthedocs.io/en/stable/user/encryption-decryption.html).
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise extract.ExtractionError(_NEEDS_PASSWORD)
    count = len(reader.pages)
    if count > extract.MAX_PDF_PAGES:
        raise extract.ExtractionError(f"the PDF has {count} pages; at most {extract.MAX_PDF_PAGES} are read")
    pages: list[str] = []
    total = 0
    for page in reader.pages:
        text = page.extract_text().replace("\x00", "").strip()
        total += len(text) + 2
        if total > extract.MAX_TEXT_CHARS:
            limit = extract.MAX_TEXT_CHARS
            raise extract.ExtractionError(f"the PDF's text runs past {limit} characters, the most taken")
        if text:
            pages.append(text)
    if not pages:
        raise extract.ExtractionError(
            "the PDF holds no text that can be extracted (a scanned document is images; run OCR on it first)"
        )
    return "\n\n".join(pages), _pdf_title(reader)


def _pdf_title(reader: Any) -> str:
    """The document information dictionary's /Title; "" when absent or unreadable (a title is optional)."""
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # a damaged /Info dictionary costs the title, not the document
        return ""
    return title if isinstance(title, str) else ""
