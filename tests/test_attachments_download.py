"""GET of an attachment (PROTOCOL.md B10): who gets the bytes, how they are served, ranges."""

from __future__ import annotations

import pytest

from tests.attachments_support import person, png, send_with
from tests.support.pages import login

SERVE = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
}


@pytest.fixture
def people(app):
    """alice uploads, bob receives, carol is a third user."""
    return person(app, "alice"), person(app, "bob"), person(app, "carol")


def test_before_sending_only_the_uploader_reads_it(app, people):
    alice, bob, carol = people
    url = alice.upload(b"draft", "draft.txt").get_json()["url"]
    assert alice.get(url).status_code == 200
    assert bob.get(url).status_code == 404
    assert carol.get(url).status_code == 404


def test_once_sent_the_sender_and_the_recipient_read_it(app, people):
    alice, bob, carol = people
    body = alice.upload(b"for bob", "note.txt").get_json()
    send_with(app, alice, bob, [body["id"]])
    for who in (alice, bob):
        response = who.get(body["url"])
        assert response.status_code == 200
        assert response.get_data() == b"for bob"
    third = carol.get(body["url"])
    assert third.status_code == 404
    assert third.get_json()["error"] == "not_found"
    assert carol.get(body["url"] + "?thumb=1").status_code == 404


def test_unknown_ids_get_404_and_no_session_401(app, people):
    alice, _, _ = people
    url = alice.upload(b"x", "x.txt").get_json()["url"]
    assert alice.get("/api/attachments/no-such-id").status_code == 404
    assert alice.get("/api/attachments/" + "x" * 500).status_code == 404
    assert app.test_client().get(url).status_code == 401
    assert app.test_client().get(url, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_the_page_cookie_reads_without_a_csrf_header(app, client):
    login(client, "dora")
    body = client.get("/")  # the session cookie is set; a GET needs no token
    assert body.status_code == 200
    from chat import store

    with app.app_context():
        dora = store.search_users("dora", 1)[0][0]
    bob = person(app, "bob")
    upload = bob.upload(b"hi dora", "hi.txt").get_json()
    from tests.attachments_support import Person

    send_with(app, bob, Person(dora, "", client), [upload["id"]])
    assert client.get(upload["url"]).get_data() == b"hi dora"


def test_an_html_upload_is_served_as_a_download(app, people):
    alice, _, _ = people
    page = b"<html><script>alert(document.cookie)</script></html>"
    body = alice.upload(page, "page.html").get_json()
    assert body["type"] == "application/octet-stream"
    response = alice.get(body["url"])
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="page.html"'
    for name, value in SERVE.items():
        assert response.headers[name] == value


def test_images_are_served_inline_with_their_type(app, people):
    alice, _, _ = people
    body = alice.upload(png(), "pic.png").get_json()
    response = alice.get(body["url"])
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"] == 'inline; filename="pic.png"'
    for name, value in SERVE.items():
        assert response.headers[name] == value
    assert alice.get(body["url"] + "?thumb=1").headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize(
    ("name", "header"),
    [
        (
            "évian €.pdf",
            "attachment; filename=\"evian _.pdf\"; filename*=UTF-8''%C3%A9vian%20%E2%82%AC.pdf",
        ),
        ("d;e%f.txt", 'attachment; filename="d_e_f.txt"'),
        ("日本.txt", "attachment; filename=\"__.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"),
    ],
)
def test_the_file_name_in_the_header_is_safe(app, people, name, header):
    alice, _, _ = people
    body = alice.upload(b"x", name).get_json()
    assert body["name"] == name  # unchanged on the wire
    assert alice.get(body["url"]).headers["Content-Disposition"] == header


def test_a_name_cannot_inject_a_header(app, people):
    from chat.attachment_views import content_disposition

    value = content_disposition("attachment", "x.txt\r\nSet-Cookie: a=b")
    assert "\r" not in value and "\n" not in value
    assert value.startswith('attachment; filename="x.txt__Set-Cookie')
    # quotes, backslashes and separators (the test client cannot send them in a filename)
    assert content_disposition("inline", 'a"b\\c/..') == 'inline; filename="a_b_c_"'
    assert content_disposition("attachment", "...") == 'attachment; filename="file"'


def test_range_requests(app, people):
    alice, bob, _ = people
    data = bytes(range(256)) * 2048 + b"end"  # over two chunks
    body = alice.upload(data, "big.bin").get_json()
    send_with(app, alice, bob, [body["id"]])
    size = len(data)
    whole = bob.get(body["url"])
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert int(whole.headers["Content-Length"]) == size
    assert whole.get_data() == data
    cases = [
        ("bytes=0-9", 0, 10),
        ("bytes=262140-262150", 262140, 262151),  # across a chunk boundary
        (f"bytes={size - 3}-", size - 3, size),
        ("bytes=-5", size - 5, size),
        (f"bytes=100-{size * 2}", 100, size),
    ]
    for header, start, stop in cases:
        part = bob.get(body["url"], Range=header)
        assert part.status_code == 206, header
        assert part.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{size}"
        assert int(part.headers["Content-Length"]) == stop - start
        assert part.get_data() == data[start:stop], header
    outside = bob.get(body["url"], Range=f"bytes={size}-")
    assert outside.status_code == 416
    assert outside.headers["Content-Range"] == f"bytes */{size}"
    several = bob.get(body["url"], Range="bytes=0-1,5-6")
    assert several.status_code == 200
    assert several.get_data() == data
