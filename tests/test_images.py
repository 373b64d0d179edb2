import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from multimodal_rag.catalog.images import ImageError, ImageFetcher, decode_image, load_image


def png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=kw.pop("format", "PNG"), **kw)
    return buf.getvalue()


RED = png_bytes(Image.new("RGB", (8, 6), (255, 0, 0)))


class Handler(BaseHTTPRequestHandler):
    calls: dict[str, int] = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        n = Handler.calls[self.path] = Handler.calls.get(self.path, 0) + 1
        if self.path == "/ok.png":
            self._send(200, RED)
        elif self.path == "/flaky.png":  # fails twice, then works: within the retries
            self._send(503, b"busy") if n <= 2 else self._send(200, RED)
        elif self.path == "/slow.png":
            time.sleep(1.5)
            self._send(200, RED)
        elif self.path == "/huge.png":
            self._send(200, b"x" * 5000)
        else:
            self._send(404, b"missing")

    def _send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_local_path_file_url_and_http(tmp_path, server):
    path = tmp_path / "red.png"
    path.write_bytes(RED)
    fetcher = ImageFetcher(timeout_s=1.0, retries=2, backoff_s=0.01)
    assert fetcher.fetch(str(path)) == RED
    assert fetcher.fetch(path.as_uri()) == RED
    assert fetcher.fetch(f"{server}/ok.png") == RED


def test_http_retries_then_succeeds(server):
    Handler.calls.clear()
    assert ImageFetcher(retries=2, backoff_s=0.01).fetch(f"{server}/flaky.png") == RED
    assert Handler.calls["/flaky.png"] == 3


def test_http_client_error_is_not_retried(server):
    Handler.calls.clear()
    with pytest.raises(ImageError, match="HTTP 404"):
        ImageFetcher(retries=3, backoff_s=0.01).fetch(f"{server}/gone.png")
    assert Handler.calls["/gone.png"] == 1


def test_http_timeout_size_cap_and_unreachable(server):
    with pytest.raises(ImageError, match="download failed after 2 attempt"):
        ImageFetcher(timeout_s=0.3, retries=1, backoff_s=0.01).fetch(f"{server}/slow.png")
    with pytest.raises(ImageError, match="over the 1000 byte cap"):
        ImageFetcher(max_bytes=1000).fetch(f"{server}/huge.png")
    with pytest.raises(ImageError, match="download failed"):
        ImageFetcher(timeout_s=0.5, retries=0).fetch("http://127.0.0.1:9/nothing.png")


def test_missing_file_and_file_over_cap(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        ImageFetcher().fetch(str(tmp_path / "nope.jpg"))
    big = tmp_path / "big.png"
    big.write_bytes(b"0" * 2048)
    with pytest.raises(ImageError, match="over the 1024 byte cap"):
        ImageFetcher(max_bytes=1024).fetch(str(big))


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode_image(png_bytes(img, format="JPEG", exif=exif.tobytes()))
    assert decoded.size == (20, 40)


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "LA", "I;16", "1"])
def test_every_common_mode_decodes_to_rgb(mode):
    img = Image.new("RGB", (16, 12), (10, 200, 30)).convert(mode) if mode != "I;16" else \
        Image.fromarray(np.full((12, 16), 40000, dtype=np.uint16))
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "LA" else "PNG")
    out = decode_image(png_bytes(img, format=fmt))
    assert out.mode == "RGB" and out.size == (16, 12)
    if mode == "I;16":
        assert out.getpixel((0, 0)) == (155, 155, 155)  # 40000 / 65535 * 255


def test_transparent_pixels_go_on_white_and_gif_gives_first_frame():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert decode_image(png_bytes(rgba)).getpixel((0, 0)) == (255, 255, 255)
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    first = decode_image(buf.getvalue())
    r, g, b = first.getpixel((5, 5))
    assert r > 200 and b < 50


def test_corrupt_image_and_decompression_bomb_are_refused():
    with pytest.raises(ImageError, match="not an image"):
        decode_image(b"this is not a picture")
    with pytest.raises(ImageError, match="corrupt image|not an image"):
        decode_image(RED[: len(RED) // 2])
    bomb = png_bytes(Image.new("1", (8000, 8000)))
    assert len(bomb) < 100_000  # tiny on disk ...
    with pytest.raises(ImageError, match="64000000 pixels|8000x8000 pixels is over the 40000000 pixel limit"):
        decode_image(bomb)  # ... 64 megapixels decoded


def test_load_image_accepts_path_bytes_and_pil(tmp_path):
    path = tmp_path / "red.png"
    path.write_bytes(RED)
    for source in (path, str(path), RED, Image.open(io.BytesIO(RED))):
        assert load_image(source).getpixel((0, 0)) == (255, 0, 0)
    with pytest.raises(TypeError, match="path, URL, bytes or PIL image"):
        load_image(42)
