"""GET /v1/images/get/<name>: stored images served to their owner's key or a signed link, and the
one 404 every other request gets; the storage module and the link signatures underneath.

Images are stored with images/storage.py on a FileSystemStorage in the test's own directory, and
their rows written as a finished generation leaves them (tests/image_files.py).
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from conftest import error_of, make_key, usage_records
from image_files import encoded, local_storage, owned_image

from gateway.models import UsageRecord
from images import signing
from images.storage import (
    ImageMissing,
    StorageUnavailable,
    delete_image,
    image_size,
    media_type,
    read_image,
    save_image,
    sniff,
)

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINT = "images.get"  # what the ledger middleware names /v1/images/get/<name>


@pytest.fixture
def image_dir(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """The images storage: a directory of this test's own (config/settings.py's default backend)."""
    location = tmp_path / "images"
    settings.STORAGES = {**settings.STORAGES, "images": local_storage(location)}
    return location


@pytest.fixture
def png() -> bytes:
    return encoded("png")


@pytest.fixture
def stored(image_dir: Path, api_key: str, png: bytes) -> str:
    """A PNG owned by `api_key`'s owner."""
    name = save_image(png, extension="png")
    owned_image(name, api_key, size=len(png))
    return name


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def get(gateway_url: str, name: str, **kwargs: object) -> requests.Response:
    return requests.get(f"{gateway_url}/v1/images/get/{name}", **kwargs)  # type: ignore[arg-type]


def signed_url(gateway_url: str, name: str, ttl: int = 3600) -> str:
    return gateway_url + signing.signed_path(name, ttl)


def assert_not_found(response: requests.Response) -> None:
    error = error_of(response, 404)
    assert error == {
        "message": "No such image, or the link to it has expired.",
        "type": "invalid_request_error",
        "param": None,
        "code": "image_not_found",
    }
    assert response.headers["Cache-Control"] == "no-store"


def raw_get(gateway_url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """A GET with the path sent exactly as written: HTTP clients drop `/../` segments themselves."""
    parts = urlsplit(gateway_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- The owner's key ------------------------------------------------------------------------------


def test_the_owners_key_gets_the_bytes_with_validators_and_a_304_on_revalidation(  # type: ignore[no-untyped-def]
    gateway_url, api_key, stored, png
) -> None:
    response = get(gateway_url, stored, headers=bearer(api_key))

    assert response.status_code == 200
    assert response.content == png
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Length"] == str(len(png))
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"] == f'inline; filename="{stored}"'
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert get(gateway_url, stored, headers=bearer(api_key)).headers["ETag"] == etag  # stable

    for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = get(gateway_url, stored, headers={**bearer(api_key), "If-None-Match": condition})
        assert again.status_code == 304, condition
        assert again.content == b""
        assert (again.headers["ETag"], again.headers["Cache-Control"]) == (etag, "private, no-cache")
    changed = get(gateway_url, stored, headers={**bearer(api_key), "If-None-Match": '"something-else"'})
    assert (changed.status_code, changed.content) == (200, png)

    records = usage_records(7, endpoint=ENDPOINT)
    assert [record.status for record in records] == [200, 200, 304, 304, 304, 304, 200]
    assert {record.api_key.name for record in records} == {"test"}


def test_head_answers_the_headers_of_get_without_a_body(gateway_url, api_key, stored, png) -> None:  # type: ignore[no-untyped-def]
    full = get(gateway_url, stored, headers=bearer(api_key))
    head = requests.head(f"{gateway_url}/v1/images/get/{stored}", headers=bearer(api_key))

    assert (head.status_code, head.content) == (200, b"")
    for header in ("Content-Type", "Content-Length", "ETag", "Cache-Control", "Content-Disposition"):
        assert head.headers[header] == full.headers[header], header
    signed_head = requests.head(signed_url(gateway_url, stored))
    assert (signed_head.status_code, signed_head.headers["Content-Length"]) == (200, str(len(png)))
    usage_records(3, endpoint=ENDPOINT)


@pytest.mark.parametrize("extension", ["jpeg", "webp"])
def test_jpeg_and_webp_are_served_as_what_they_are(gateway_url, image_dir, api_key, extension) -> None:  # type: ignore[no-untyped-def]
    data = encoded(extension)
    name = save_image(data, extension=extension)
    owned_image(name, api_key, output_format=extension)

    response = get(gateway_url, name, headers=bearer(api_key))

    assert name.endswith(f".{extension}")
    assert (response.status_code, response.content) == (200, data)
    assert response.headers["Content-Type"] == f"image/{extension}"


def test_bytes_changed_behind_the_gateway_are_served_by_their_magic_never_as_a_page(  # type: ignore[no-untyped-def]
    gateway_url, image_dir, api_key, stored
) -> None:
    (image_dir / stored).write_bytes(b"<html><script>alert(1)</script></html>")

    response = get(gateway_url, stored, headers=bearer(api_key))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- Signed links ---------------------------------------------------------------------------------


def test_a_signed_link_opens_without_any_key_as_an_img_tag_asks(gateway_url, stored, png) -> None:  # type: ignore[no-untyped-def]
    session = requests.Session()
    session.headers.clear()  # no User-Agent, no default Accept: only what an <img> fetch sends
    response = session.get(signed_url(gateway_url, stored, ttl=600), headers={"Accept": "image/*"})

    assert (response.status_code, response.content) == (200, png)
    assert response.headers["Content-Type"] == "image/png"
    max_age = int(response.headers["Cache-Control"].removeprefix("private, max-age="))
    assert 595 <= max_age <= 600
    (record,) = usage_records(1, endpoint=ENDPOINT)
    assert (record.status, record.api_key) == (200, None)


def test_a_signed_link_serves_whatever_key_comes_with_it_but_a_bad_key_is_still_a_401(  # type: ignore[no-untyped-def]
    gateway_url, stored, png
) -> None:
    stranger = make_key("stranger")
    url = signed_url(gateway_url, stored)

    assert get(gateway_url, stored, headers=bearer(stranger)).status_code == 404
    assert requests.get(url, headers=bearer(stranger)).content == png  # the link alone would open it
    error = error_of(requests.get(url, headers=bearer("sk-gw-not-a-key")), 401)
    assert error["code"] == "invalid_api_key"
    assert error_of(requests.get(url, headers={"Authorization": ""}), 401)["code"] == "missing_api_key"
    assert [r.status for r in usage_records(2, endpoint=ENDPOINT)] == [404, 200]  # the 401s leave none


def test_expired_tampered_and_borrowed_links_all_get_the_same_404(gateway_url, image_dir, stored, png) -> None:  # type: ignore[no-untyped-def]
    other = save_image(png, extension="png")
    expires = int(time.time()) + 3600
    good = signing.signed_query(stored, expires)
    signature = good.partition("signature=")[2]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    queries = [
        signing.signed_query(stored, int(time.time()) - 1),  # expired a second ago
        f"expires={expires}&signature={flipped}",  # tampered signature
        f"expires={expires + 1}&signature={signature}",  # tampered expiry
        f"expires=0{expires}&signature={signature}",  # the same expiry, spelled otherwise
        f"expires={expires}&signature={signature.upper()}",
        signing.signed_query(other, expires),  # another image's signature
        f"expires={expires}",
        f"signature={signature}",
        "",
        "expires=abc&signature=xyz",
    ]
    assert get(gateway_url, f"{stored}?{good}").status_code == 200
    for query in queries:
        assert_not_found(get(gateway_url, f"{stored}?{query}"))
    usage_records(1 + len(queries), endpoint=ENDPOINT)


def test_a_signed_link_to_an_image_whose_file_is_gone_is_a_404(gateway_url, image_dir, stored) -> None:  # type: ignore[no-untyped-def]
    url = signed_url(gateway_url, stored)
    delete_image(stored)

    assert_not_found(requests.get(url))


# --- Everyone else --------------------------------------------------------------------------------


def test_another_owners_key_gets_the_404_of_an_unknown_name(gateway_url, stored) -> None:  # type: ignore[no-untyped-def]
    stranger = make_key("stranger")

    assert_not_found(get(gateway_url, stored, headers=bearer(stranger)))
    assert_not_found(get(gateway_url, "img_" + "0" * 32 + ".png", headers=bearer(stranger)))
    assert_not_found(get(gateway_url, stored))  # no key, no link
    (first, second, third) = usage_records(3, endpoint=ENDPOINT)
    assert (first.api_key.name, first.error_code, third.api_key) == ("stranger", "image_not_found", None)


def test_the_access_token_owns_the_images_made_without_an_owner_and_no_others(  # type: ignore[no-untyped-def]
    gateway_url, settings, image_dir, api_key, stored, png
) -> None:
    settings.ACCESS_TOKEN = "static-access-token-for-images"
    ownerless = save_image(png, extension="png")
    owned_image(ownerless, None)

    assert get(gateway_url, ownerless, headers=bearer(settings.ACCESS_TOKEN)).content == png
    assert_not_found(get(gateway_url, stored, headers=bearer(settings.ACCESS_TOKEN)))
    assert_not_found(get(gateway_url, ownerless, headers=bearer(api_key)))


def test_a_job_that_has_not_succeeded_does_not_make_its_file_readable(gateway_url, api_key, stored) -> None:  # type: ignore[no-untyped-def]
    from images.models import ImageJob

    ImageJob.objects.filter(file_name=stored).update(status=ImageJob.Status.FAILED)

    assert_not_found(get(gateway_url, stored, headers=bearer(api_key)))


def test_a_row_whose_file_is_gone_is_a_404(gateway_url, image_dir, api_key, stored) -> None:  # type: ignore[no-untyped-def]
    (image_dir / stored).unlink()

    assert_not_found(get(gateway_url, stored, headers=bearer(api_key)))
    assert_not_found(get(gateway_url, stored, headers={**bearer(api_key), "If-None-Match": "*"}))


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Fsecret_key",
        "img_x.png/../../",
        "../../secret_key",
        "img_" + "0" * 32 + ".png/../../secret_key",
        "%2E%2E/secret_key",
        "img_" + "0" * 32 + ".PNG",
        "img_" + "0" * 32 + ".png%00",
        "img_" + "0" * 32 + ".svg",
        "secret_key",
    ],
)
def test_names_we_never_give_out_are_404_and_reach_no_file(  # type: ignore[no-untyped-def]
    gateway_url, image_dir, api_key, stored, name
) -> None:
    # A file beside the storage that a traversal would reach.
    image_dir.parent.joinpath("secret_key").write_text("not for anyone")
    path = f"/v1/images/get/{name}"
    decoded = name.replace("%2F", "/").replace("%2E", ".").replace("%00", "\x00")
    link = signing.signed_query(decoded, int(time.time()) + 60)  # even our own signature over it

    for headers, query in ((bearer(api_key), ""), ({}, f"?{link}")):
        status, body = raw_get(gateway_url, path + query, headers)
        assert status == 404, (name, body)
        assert b'"code":"image_not_found"' in body.replace(b" ", b"")
        assert b"not for anyone" not in body
    usage_records(2, endpoint=ENDPOINT)


def test_only_get_and_head_are_allowed(gateway_url, api_key, stored) -> None:  # type: ignore[no-untyped-def]
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        response = requests.request(method, f"{gateway_url}/v1/images/get/{stored}", headers=bearer(api_key))
        assert error_of(response, 405)["code"] == "method_not_allowed", method
    usage_records(4, endpoint=ENDPOINT)


def test_a_storage_that_cannot_answer_is_a_503_not_a_500(gateway_url, settings, tmp_path, api_key, png) -> None:  # type: ignore[no-untyped-def]
    # A storage directory that is a file: every read fails with NotADirectoryError, not "missing".
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    name = "img_" + "ab" * 16 + ".png"
    owned_image(name, api_key)
    settings.STORAGES = {**settings.STORAGES, "images": local_storage(blocked)}

    for headers in (bearer(api_key), {**bearer(api_key), "If-None-Match": '"x"'}):
        response = get(gateway_url, name, headers=headers)
        error = error_of(response, 503)
        assert (error["code"], error["type"]) == ("service_unavailable", "server_error")
        assert "image storage" in error["message"]
        assert response.headers["Retry-After"] == "5"
    signed = error_of(requests.get(signed_url(gateway_url, "img_" + "cd" * 16 + ".png")), 503)
    assert signed["code"] == "service_unavailable"  # a link is checked without the database
    with pytest.raises(StorageUnavailable):
        save_image(png, extension="png")
    records = usage_records(3, endpoint=ENDPOINT)
    assert [(r.status, r.error_code) for r in records] == [(503, "service_unavailable")] * 3


# --- The storage module and the signatures ------------------------------------------------------------


def test_save_read_and_delete_keep_to_unguessable_names_in_the_storage(image_dir, png) -> None:  # type: ignore[no-untyped-def]
    jpeg = encoded("jpeg")
    first, second = save_image(png, extension="png"), save_image(jpeg, extension="jpeg")

    assert first != second
    assert first.startswith("img_") and len(first) == len("img_") + 32 + len(".png")
    assert sorted(path.name for path in image_dir.iterdir()) == sorted([first, second])
    assert (read_image(first), read_image(second)) == (png, jpeg)
    assert (image_size(first), media_type(first), media_type(second)) == (len(png), "image/png", "image/jpeg")
    assert (sniff(png), sniff(jpeg), sniff(encoded("webp")), sniff(b"GIF89a")) == (
        "image/png",
        "image/jpeg",
        "image/webp",
        None,
    )
    delete_image(first)
    delete_image(first)  # already gone: no error
    with pytest.raises(ImageMissing):
        read_image(first)
    with pytest.raises(ImageMissing):
        image_size(first)
    assert [path.name for path in image_dir.iterdir()] == [second]


def test_save_refuses_bytes_that_are_not_what_the_extension_says(image_dir, png) -> None:  # type: ignore[no-untyped-def]
    for data, extension in ((png, "jpeg"), (encoded("jpeg"), "png"), (b"<svg/>", "png"), (png, "jpg"), (png, "svg")):
        with pytest.raises(ValueError):
            save_image(data, extension=extension)
    assert not image_dir.exists() or not any(image_dir.iterdir())


def test_names_outside_the_pattern_never_reach_the_storage(image_dir) -> None:  # type: ignore[no-untyped-def]
    image_dir.parent.joinpath("secret_key").write_text("secret")
    for name in ("../secret_key", "/etc/passwd", "img_" + "0" * 32 + ".png/../../secret_key", ""):
        with pytest.raises(ImageMissing):
            read_image(name)
        delete_image(name)  # nothing to delete, and nothing outside is touched
    assert image_dir.parent.joinpath("secret_key").read_text() == "secret"
    with pytest.raises(ValueError):
        media_type("../secret_key")


def test_signatures_bind_the_name_and_the_expiry_and_expire(settings) -> None:  # type: ignore[no-untyped-def]
    name, expires = "img_" + "1" * 32 + ".png", 2_000_000_000
    query = signing.signed_query(name, expires)
    signature = query.partition("signature=")[2]

    assert query == f"expires={expires}&signature={signature}" and len(signature) == 64
    assert signing.check(name, str(expires), signature, now=expires - 1)
    assert not signing.check(name, str(expires), signature, now=expires)  # expired at the second itself
    assert not signing.check("img_" + "2" * 32 + ".png", str(expires), signature, now=0)
    assert not signing.check(name, str(expires + 1), signature, now=0)
    for bad_expires, bad_signature in ((None, signature), (str(expires), None), ("-1", signature), ("1e9", signature)):
        assert not signing.check(name, bad_expires, bad_signature, now=0)

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]  # rotated: links signed before still open
    settings.SECRET_KEY = "a-new-secret-key-for-the-rotation-test-0123456789"
    assert signing.check(name, str(expires), signature, now=0)
    settings.SECRET_KEY_FALLBACKS = []
    assert not signing.check(name, str(expires), signature, now=0)

    path = signing.signed_path(name, 60)
    assert path.startswith(f"/v1/images/get/{name}?expires=")
    assert int(path.split("expires=")[1].split("&")[0]) - time.time() == pytest.approx(60, abs=2)


def test_every_request_but_a_refused_key_leaves_exactly_one_usage_record(gateway_url, api_key, stored) -> None:  # type: ignore[no-untyped-def]
    get(gateway_url, stored, headers=bearer(api_key))
    requests.get(signed_url(gateway_url, stored))
    assert get(gateway_url, stored, headers=bearer("sk-gw-wrong")).status_code == 401  # no record
    get(gateway_url, "nothing-here")  # last: its record is the marker that the 401's would be in

    records = usage_records(3, endpoint=ENDPOINT)
    assert [(r.status, r.error_code) for r in records] == [
        (200, ""),
        (200, ""),
        (404, "image_not_found"),
    ]
    assert len({r.request_id for r in records}) == 3
    assert UsageRecord.objects.count() == 3
