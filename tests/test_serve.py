"""``mmrag serve`` over HTTP: a real app on Milvus Lite with the sample catalog and the offline embedders.

The chat model is scripted (it stands in for any hosted model, and answers at once); the browser test runs the
offline SmolLM2.
"""

import io
import json
import shutil
import subprocess
import sys
import time

import httpx
import pytest
from PIL import Image

from multimodal_rag.catalog.sample import make_sample_catalog, sample_products
from multimodal_rag.cli import main as cli_main
from multimodal_rag.config import load_config
from multimodal_rag.ingestion import ingest
from multimodal_rag.server.app import create_app
from multimodal_rag.server.state import ServeLimits
from tests.chat_models import scripted
from tests.serving import free_port, running

LIMITS = ServeLimits(max_upload_bytes=2_000_000, max_upload_pixels=1_000_000, max_body_bytes=3_000_000)


def answer_from_fact(prompt: str) -> str:
    """States the catalog fact it is given, or names the first product."""
    fact = next((line for line in prompt.splitlines() if line.startswith("Catalog fact: ")), None)
    return fact.removeprefix("Catalog fact: ") if fact else "Have a look at the first one [1]."


@pytest.fixture(scope="module")
def shop(tmp_path_factory, default_embedders):
    folder = tmp_path_factory.mktemp("serve")
    catalog = make_sample_catalog(folder / "sample")
    outside = tmp_path_factory.mktemp("elsewhere") / "outside.png"
    Image.new("RGB", (64, 64), (10, 200, 10)).save(outside)
    with catalog.open("a") as f:  # a product whose photo lies outside the catalog's folder
        f.write(json.dumps({"id": "outsider", "title": "Outsider Green Square", "image": str(outside)}) + "\n")
    config = load_config(None, [f"store.db={json.dumps(str(folder / 'shop.db'))}"])
    ingest(catalog, config, progress=False, embedders=default_embedders)
    return folder, config


@pytest.fixture(scope="module")
def base(shop):
    _, config = shop
    with running(create_app(config, llm=scripted(answer_from_fact), limits=LIMITS)) as url:
        yield url


@pytest.fixture
def http(base):
    with httpx.Client(base_url=base, timeout=120) as client:
        yield client


def png(size=(32, 32), colour=(200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_text_search_is_the_cli_list(http, shop, capsys):
    found = http.post("/api/search", json={"text": "Northwind Blue Ceramic Coffee Mug", "k": 3})
    assert found.status_code == 200
    results = found.json()
    assert [r["id"] for r in results][0] == "mug-blue" and len(results) == 3
    capsys.readouterr()
    folder, _ = shop
    assert cli_main(["search", "Northwind Blue Ceramic Coffee Mug", "-k", "3", "--db", str(folder / "shop.db"),
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == results


def test_photo_search_finds_the_product_of_its_own_photo(http, shop):
    folder, _ = shop
    photo = (folder / "sample" / "images" / "lamp-blue.png").read_bytes()
    results = http.post("/api/search", files={"image": ("lamp.png", photo, "image/png")}, data={"k": "3"}).json()
    assert results[0]["id"] == "lamp-blue" and results[0]["scores"] == {"image": pytest.approx(1.0, abs=1e-5)}
    assert len(results) == 3


def test_filters_refine_a_search(http):
    results = http.post("/api/search", json={"text": "mug", "filters": {"price": {"lt": 350}}, "k": 10}).json()
    assert sorted(r["id"] for r in results) == ["mug-blue", "mug-red"]


def test_ask_answers_with_a_citation_as_one_object(http):
    reply = http.post("/api/ask", json={"question": "How much is the Northwind Blue Ceramic Coffee Mug?"},
                      headers={"Accept": "application/json"})
    assert reply.status_code == 200
    result = reply.json()
    assert result["answer"] == "The price of Northwind Blue Ceramic Coffee Mug is 349 INR [1]."
    assert [p["id"] for p in result["cited"]] == ["mug-blue"] and result["grounding"] == "lookup"


def events(response) -> list[tuple[str, object]]:
    out = []
    for block in response.text.strip().split("\n\n"):
        name = next(line[7:] for line in block.splitlines() if line.startswith("event: "))
        data = json.loads(next(line[6:] for line in block.splitlines() if line.startswith("data: ")))
        out.append((name, data))
    return out


def test_ask_streams_products_then_answer_then_result_and_follow_ups_use_history(http):
    streamed = events(http.post("/api/ask", json={"question": "a mug under 400"}))
    names = [n for n, _ in streamed]
    assert names[0] == "products" and names[-1] == "result" and set(names[1:-1]) == {"answer"}
    result = streamed[-1][1]
    assert "".join(d["text"] for n, d in streamed if n == "answer") == result["answer"]
    # Mugs cost 299 (red), 349 (blue), 399 (green) and more: only those three are under 400.
    cited = {p["id"] for p in result["cited"]}
    assert result["grounding"] == "shopping" and cited and cited <= {"mug-red", "mug-blue", "mug-green"}
    history = [{"question": "How much is the Northwind Blue Ceramic Coffee Mug?",
                "answer": "The price of Northwind Blue Ceramic Coffee Mug is 349 INR [1].",
                "products": [{"id": "mug-blue", "title": "Northwind Blue Ceramic Coffee Mug", "price": 349.0,
                              "category": "Home > Kitchen > Mugs"}]}]
    follow = http.post("/api/ask", json={"question": "what is its material?", "history": history},
                       headers={"Accept": "application/json"}).json()
    assert follow["query"] == "what is Northwind Blue Ceramic Coffee Mug's material?"
    assert follow["answer"] == "The material of Northwind Blue Ceramic Coffee Mug is Ceramic [1]."
    assert [p["id"] for p in follow["cited"]] == ["mug-blue"]


def test_products_and_their_photos(http):
    assert http.get("/api/products/mug-red").json()["title"] == "Acme Red Ceramic Coffee Mug"
    photo = http.get("/api/products/mug-red/image")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(photo.content)).size == (256, 256)
    outside = http.get("/api/products/outsider/image")
    assert outside.status_code == 404 and "not inside the catalog's folders" in outside.json()["error"]


BIG = b"\x89PNG" + b"0" * 4_000_000


@pytest.mark.parametrize("request_args, status, message", [
    ({"content": b"", "headers": {"Content-Type": "application/json"}}, 400, "the body must be JSON"),
    ({"json": {"text": 5}}, 422, "text: Input should be a valid string"),
    ({"json": {"text": "mug", "k": 0}}, 422, "k: Input should be greater than or equal to 1"),
    ({"json": {"text": "mug", "colour": "red"}}, 422, "colour: Extra inputs are not permitted"),
    ({"files": {"image": ("big.png", BIG, "image/png")}}, 413, "over the 3,000,000 byte limit"),
    ({"files": {"image": ("notes.jpg", b"just some text, not a photo", "image/jpeg")}}, 415,
     "'notes.jpg' is not an image (recognised by its content, not its name)"),
    ({"files": {"image": ("bomb.png", png((2000, 2000)), "image/png")}}, 413,
     "the photo is 2000x2000 pixels, over the 1,000,000 pixel limit"),
    ({"json": {"text": "mug", "filters": {"brand or 1==1": "x"}}}, 400, "unknown filter field 'brand or 1==1'"),
    ({"json": {"text": "mug", "filters": {"price": {"lt": "cheap"}}}}, 400, "price lt: expected a finite number"),
])
def test_bad_search_requests_get_a_clear_4xx_and_the_server_goes_on(http, request_args, status, message):
    reply = http.post("/api/search", **request_args)
    assert reply.status_code == status, reply.text
    assert message in reply.json()["error"]
    assert "Traceback" not in reply.text
    assert http.post("/api/search", json={"text": "red mug", "k": 1}).json()[0]["id"] == "mug-red"


def test_a_hostile_filter_value_stays_a_value(http):
    hostile = 'Acme" or brand != "'
    assert http.post("/api/search", json={"text": "mug", "filters": {"brand": hostile}}).json() == []
    assert http.get("/api/products/nope").status_code == 404
    assert http.get("/api/products/nope").json() == {"error": "no product with id 'nope'"}
    bad_question = http.post("/api/ask", json={"question": "   "}, headers={"Accept": "application/json"})
    assert bad_question.status_code == 422 and "the question is blank" in bad_question.json()["error"]


def test_every_api_call_needs_the_key_when_one_is_set(shop):
    _, config = shop
    app = create_app(config, api_key="s3cret", llm=scripted(answer_from_fact), limits=LIMITS)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        missing = http.post("/api/search", json={"text": "mug"})
        assert missing.status_code == 401 and "needs an API key" in missing.json()["error"]
        wrong = http.post("/api/search", json={"text": "mug"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403 and wrong.json() == {"error": "wrong API key"}
        assert http.get("/api/products/mug-red").status_code == 401
        right = http.post("/api/search", json={"text": "mug", "k": 1}, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200 and right.json()[0]["id"].startswith("mug-")
        assert http.get("/healthz").status_code == 200  # health stays open for load balancers
        assert http.get("/").status_code == 200 and "Shop assistant" in http.get("/").text


def test_the_store_going_away_gives_503_and_the_app_recovers(tmp_path, default_embedders):
    port = free_port()
    db = tmp_path / "served.db"

    def start_store() -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "multimodal_rag", "db", "serve", "--db", str(db),
                                    "--port", str(port)], stdout=subprocess.PIPE, text=True)
        assert " on http://" in process.stdout.readline()
        return process

    store = start_store()
    try:
        config = load_config(None, [f'store.uri="http://127.0.0.1:{port}"', "store.retries=0",
                                    "store.timeout_s=5"])
        ingest(make_sample_catalog(tmp_path / "sample"), config, progress=False, embedders=default_embedders)
        app = create_app(config, llm=scripted(answer_from_fact), limits=LIMITS)
        with running(app) as url, httpx.Client(base_url=url, timeout=60) as http:
            assert http.get("/healthz").json() == {"status": "ok", "products": 36}
            store.kill()
            store.wait()
            down = http.get("/healthz")
            assert down.status_code == 503 and down.json()["status"] == "unavailable"
            failed = http.post("/api/search", json={"text": "red mug"})
            assert failed.status_code == 503 and "the store does not answer" in failed.json()["error"]
            store = start_store()
            deadline = time.monotonic() + 60
            while http.get("/healthz").status_code != 200:
                assert time.monotonic() < deadline, "the app did not recover"
                time.sleep(0.5)
            recovered = http.post("/api/search", json={"text": "red mug", "k": 1})
            assert recovered.status_code == 200 and recovered.json()[0]["id"] == "mug-red", recovered.text
    finally:
        store.kill()
        store.wait()
    shutil.rmtree(db, ignore_errors=True)


def test_sample_products_are_the_ones_served(http):
    titles = {p["id"]: p["title"] for p in sample_products()}
    served = http.post("/api/search", json={"text": "lamp", "k": 6}).json()
    assert all(r["title"] == titles[r["id"]] for r in served)
