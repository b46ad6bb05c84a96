"""The runner treats a server's /history as untrusted: nothing is written outside --out, nothing is clobbered.

A real HTTP server on 127.0.0.1 (http.server in a thread) plays a malicious ComfyUI: its /history names
output files with absolute paths, '..' components or links, and its /view answers every request.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from rectiflow.headless.client import save_outputs
from rectiflow.headless.errors import UnsafeOutputPath

PROMPT_ID = "p-1"
PAYLOAD = b"bytes from the server"


class FakeComfy(BaseHTTPRequestHandler):
    """GET /history/<id> -> the records set on the server; GET /view -> PAYLOAD (and logs the query)."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        if url.path == f"/history/{PROMPT_ID}":
            body = json.dumps({PROMPT_ID: {"outputs": {"9": {"images": self.server.records}}}}).encode()
        elif url.path == "/view":
            self.server.views.append(parse_qs(url.query))
            body = PAYLOAD
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeComfy)
    server.records, server.views = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def places(tmp_path):
    """out/ for the runner, outside/ next to it that must stay empty."""
    out, outside = tmp_path / "work" / "out", tmp_path / "outside"
    out.mkdir(parents=True)
    outside.mkdir()
    return out, outside


def malicious_records(outside: Path) -> list[tuple[dict, object]]:
    """(record, the value the error must quote)."""
    return [
        ({"filename": str(outside / "abs.png"), "subfolder": ""}, str(outside / "abs.png")),
        ({"filename": "../escape.png", "subfolder": ""}, "../escape.png"),
        ({"filename": "..", "subfolder": ""}, ".."),
        ({"filename": "nul\x00.png", "subfolder": ""}, "nul\x00.png"),
        ({"filename": "C:evil.png", "subfolder": ""}, "C:evil.png"),
        ({"filename": "a\\..\\..\\b.png", "subfolder": ""}, "a\\..\\..\\b.png"),
        ({"filename": "x.png", "subfolder": "../../outside"}, "../../outside"),
        ({"filename": "x.png", "subfolder": "a/../../../outside"}, "a/../../../outside"),
        ({"filename": "x.png", "subfolder": str(outside)}, str(outside)),
        ({"filename": "x.png", "subfolder": "..\\..\\outside"}, "..\\..\\outside"),
        ({"filename": 7, "subfolder": ""}, 7),
        ({"filename": "lone\ud800.png", "subfolder": ""}, "lone\ud800.png"),
        ({"filename": "x.png", "subfolder": "sub\ud800"}, "sub\ud800"),
    ]


@pytest.mark.parametrize("case", range(len(malicious_records(Path("/x")))))
def test_malicious_history_writes_nothing_outside_out(fake_server, places, case):
    server, url = fake_server
    out, outside = places
    record, quoted = malicious_records(outside)[case]
    server.records = [{"filename": "fine.png", "subfolder": "", "type": "output"}, record]
    with pytest.raises(UnsafeOutputPath) as err:
        save_outputs(url, PROMPT_ID, out)
    assert ascii(quoted) in str(err.value)
    assert tree(outside) == set()
    assert tree(out) == set(), "records are all checked before anything is downloaded"
    assert server.views == []
    assert tree(out.parent.parent) == {"work", "work/out", "outside"}


def test_a_link_inside_out_pointing_outside_is_refused(fake_server, places):
    server, url = fake_server
    out, outside = places
    (out / "link").symlink_to(outside, target_is_directory=True)
    server.records = [{"filename": "x.png", "subfolder": "link/deeper", "type": "output"}]
    with pytest.raises(UnsafeOutputPath, match=r"'link/deeper'"):
        save_outputs(url, PROMPT_ID, out)
    assert tree(outside) == set()


def test_plain_records_land_in_out_with_their_subfolder(fake_server, places):
    server, url = fake_server
    out, _ = places
    server.records = [{"filename": "a.png", "subfolder": "", "type": "output"},
                      {"filename": "b.png", "subfolder": "sub/./dir", "type": "temp"}]
    saved = save_outputs(url, PROMPT_ID, out)
    assert saved == [out.resolve() / "a.png", out.resolve() / "sub" / "dir" / "b.png"]
    assert all(p.read_bytes() == PAYLOAD for p in saved)
    assert [v["filename"] for v in server.views] == [["a.png"], ["b.png"]]
    assert server.views[1]["subfolder"] == ["sub/./dir"] and server.views[1]["type"] == ["temp"]


def test_existing_files_are_never_overwritten(fake_server, places, tmp_path):
    server, url = fake_server
    out, outside = places
    (out / "img.png").write_bytes(b"user file")
    (out / "img-1.png").write_bytes(b"older user file")
    (out / "link.png").symlink_to(outside / "target.png")  # a dangling link is not followed either
    server.records = [{"filename": "img.png", "subfolder": ""}, {"filename": "link.png", "subfolder": ""}]
    saved = save_outputs(url, PROMPT_ID, out)
    assert saved == [out.resolve() / "img-2.png", out.resolve() / "link-1.png"]
    assert (out / "img.png").read_bytes() == b"user file"
    assert (out / "img-1.png").read_bytes() == b"older user file"
    assert saved[0].read_bytes() == PAYLOAD and saved[1].read_bytes() == PAYLOAD
    assert tree(outside) == set()
