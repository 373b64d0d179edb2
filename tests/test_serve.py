"""``mmrag serve`` over HTTP: a real app on Milvus Lite with the sample catalog and the offline embedders.

The chat model is scripted (it stands in for any hosted model, and answers at once); the browser test runs the
offline SmolLM2.
"""

import asyncio
import io
import json
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator

import httpx
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web app needs the [serve] extra: pip install -e '.[serve]'")

from multimodal_rag.catalog.sample import make_sample_catalog, sample_products
from multimodal_rag.cli import main as cli_main
from multimodal_rag.config import load_config
from multimodal_rag.ingestion import ingest
from multimodal_rag.server.app import STATIC, create_app
from multimodal_rag.server.state import ServeLimits
from tests.chat_models import ScriptedChatModel, scripted
from tests.serving import free_port, read_events, running

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
    assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream; charset=utf-8"
    return read_events(response.text)[0]


def test_ask_streams_products_then_answer_then_result_and_follow_ups_use_history(http):
    streamed = events(http.post("/api/ask", json={"question": "a mug under 400"}))
    names = [n for n, _ in streamed]
    assert names[0] == "products" and names[-1] == "result" and set(names[1:-1]) == {"answer"}
    result = streamed[-1][1]
    assert "".join(d["text"] for n, d in streamed if n == "answer") == result["answer"]
    # Mugs cost 299 (red), 349 (blue), 399 (green) and more: only those three are under 400.
    assert [p["id"] for p in streamed[0][1]] == [p["id"] for p in result["products"]] == [
        "mug-red", "mug-blue", "mug-green"]
    assert result["grounding"] == "shopping"
    assert [p["id"] for p in result["cited"]] == ["mug-red", "mug-blue", "mug-green"]
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
    assert (outside.status_code, outside.json()) == (
        404, {"error": "the photo of 'outsider' is not inside the catalog's folders"})


BIG = b"\x89PNG" + b"0" * 4_000_000


FILTER_FIELDS = ("['brand', 'category', 'currency', 'description', 'id', 'image', 'list_price', 'price', 'rating', "
                 "'title', 'url']")
PHOTO = {"image": ("red.png", png(), "image/png")}


@pytest.mark.parametrize("request_args, status, message", [
    ({"content": b"", "headers": {"Content-Type": "application/json"}}, 400,
     'the body must be JSON {"text", "filters", "k"}, or multipart/form-data with the fields of PhotoSearchForm '
     "(see /docs)"),
    ({"json": {"text": 5}}, 422, "invalid request: text: Input should be a valid string"),
    ({"json": {"text": ""}}, 422, "invalid request: text: String should have at least 1 character"),
    ({"json": {"text": "mug", "k": 0}}, 422, "invalid request: k: Input should be greater than or equal to 1"),
    ({"json": {"text": "mug", "k": 101}}, 422, "invalid request: k: Input should be less than or equal to 100"),
    ({"json": {"text": "mug", "colour": "red"}}, 422, "invalid request: colour: Extra inputs are not permitted"),
    ({"files": PHOTO, "data": {"k": "ten"}}, 422,
     "invalid request: k: Input should be a valid integer, unable to parse string as an integer"),
    ({"files": PHOTO, "data": {"filters": "price<5"}}, 422,
     "invalid request: filters: Invalid JSON: expected value at line 1 column 1"),
    ({"files": {"photo": ("red.png", png(), "image/png")}}, 422,
     "invalid request: image: Field required; photo: Extra inputs are not permitted"),
    ({"files": {"image": ("big.png", BIG, "image/png")}}, 413, "the request body is over the 3,000,000 byte limit"),
    ({"files": {"image": ("notes.jpg", b"just some text, not a photo", "image/jpeg")}}, 415,
     "the upload 'notes.jpg' is not an image (recognised by its content, not its name); send a JPEG, PNG, WebP, GIF "
     "or BMP photo"),
    ({"files": {"image": ("bomb.png", png((2000, 2000)), "image/png")}}, 413,
     "the photo is 2000x2000 pixels, over the 1,000,000 pixel limit"),
    ({"json": {"text": "mug", "filters": {"brand or 1==1": "x"}}}, 400,
     f"unknown filter field 'brand or 1==1'; use one of {FILTER_FIELDS} or attributes.<name>"),
    ({"json": {"text": "mug", "filters": {"price": {"lt": "cheap"}}}}, 400,
     "price lt: expected a finite number, got 'cheap'"),
])
def test_bad_search_requests_get_a_clear_4xx_and_the_server_goes_on(http, request_args, status, message):
    reply = http.post("/api/search", **request_args)
    assert (reply.status_code, reply.json()) == (status, {"error": message})
    assert http.post("/api/search", json={"text": "red mug", "k": 1}).json()[0]["id"] == "mug-red"


def test_a_hostile_filter_value_stays_a_value(http):
    hostile = 'Acme" or brand != "'
    assert http.post("/api/search", json={"text": "mug", "filters": {"brand": hostile}}).json() == []
    assert http.get("/api/products/nope").status_code == 404
    assert http.get("/api/products/nope").json() == {"error": "no product with id 'nope'"}
    bad_question = http.post("/api/ask", json={"question": "   "}, headers={"Accept": "application/json"})
    assert (bad_question.status_code, bad_question.json()) == (
        422, {"error": "invalid request: question: Value error, the question is blank"})


def test_every_api_call_needs_the_key_when_one_is_set(shop):
    _, config = shop
    app = create_app(config, api_key="s3cret", llm=scripted(answer_from_fact), limits=LIMITS)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        missing = http.post("/api/search", json={"text": "mug"})
        assert (missing.status_code, missing.json()) == (
            401, {"error": "this server needs an API key: send Authorization: Bearer <key>"})
        wrong = http.post("/api/search", json={"text": "mug"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403 and wrong.json() == {"error": "wrong API key"}
        assert http.get("/api/products/mug-red").status_code == 401
        right = http.post("/api/search", json={"text": "mug", "k": 1}, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200 and right.json()[0]["id"].startswith("mug-")
        assert http.get("/healthz").status_code == 200  # health stays open for load balancers
        page = http.get("/")
        assert (page.status_code, page.text) == (200, (STATIC / "index.html").read_text())


def test_the_store_going_away_gives_503_and_the_app_recovers(tmp_path, default_embedders):
    port = free_port()
    db = tmp_path / "served.db"

    def start_store() -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "multimodal_rag", "db", "serve", "--db", str(db),
                                    "--port", str(port)], stdout=subprocess.PIPE, text=True)
        assert re.fullmatch(rf"serving {re.escape(str(db))} on http://127\.0\.0\.1:{port}; use --uri "
                            rf"http://127\.0\.0\.1:{port} \(Ctrl-C stops\)\n", process.stdout.readline())
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
            assert failed.status_code == 503 and re.fullmatch(
                r"the store does not answer \(.+\); check that the Milvus server is running", failed.json()["error"])
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


def test_openapi_describes_both_body_kinds_of_search_and_ask(http):
    spec = http.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path, json_model, form_model in (("/api/search", "SearchRequest", "PhotoSearchForm"),
                                         ("/api/ask", "AskRequest", "AskForm")):
        assert spec["paths"][path]["post"]["requestBody"] == {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{json_model}"}},
            "multipart/form-data": {"schema": {"$ref": f"#/components/schemas/{form_model}"}}}}
    fields = {name: (list(schemas[name]["properties"]), schemas[name].get("required"))
              for name in ("SearchRequest", "PhotoSearchForm", "AskRequest", "AskForm", "HistoryTurn")}
    assert fields == {"SearchRequest": (["text", "filters", "k"], ["text"]),
                      "PhotoSearchForm": (["image", "text", "filters", "k"], ["image"]),
                      "AskRequest": (["question", "history", "filters"], ["question"]),
                      "AskForm": (["question", "image", "history", "filters"], ["question"]),
                      "HistoryTurn": (["question", "answer", "products"], ["question", "answer"])}
    search, photo, ask, form = (schemas[n]["properties"] for n in ("SearchRequest", "PhotoSearchForm",
                                                                   "AskRequest", "AskForm"))
    assert (search["k"]["minimum"], search["k"]["maximum"], search["text"]["minLength"]) == (1, 100, 1)
    assert photo["image"]["contentMediaType"] == "application/octet-stream" and photo["image"]["type"] == "string"
    # Multipart fields that hold JSON say so, with the schema of what they hold.
    assert form["history"]["contentMediaType"] == "application/json"
    assert form["history"]["contentSchema"]["items"] == ask["history"]["items"] == {
        "$ref": "#/components/schemas/HistoryTurn"}
    assert [s.get("contentMediaType") for s in photo["filters"]["anyOf"]] == ["application/json", None]
    answers = spec["paths"]["/api/ask"]["post"]["responses"]
    assert answers["200"]["content"]["application/json"] == {"schema": {"$ref": "#/components/schemas/Answer"}}
    assert list(answers["200"]["content"]) == ["application/json", "text/event-stream"]
    assert answers["429"]["content"]["application/json"] == {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
    found = spec["paths"]["/api/search"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert found["items"] == {"$ref": "#/components/schemas/SearchHit"}
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs - set(schemas) == set()  # every reference resolves


def test_ask_with_a_photo_as_multipart(http, shop):
    folder, _ = shop
    photo = (folder / "sample" / "images" / "lamp-blue.png").read_bytes()
    reply = http.post("/api/ask", files={"image": ("lamp.png", photo, "image/png")},
                      data={"question": "how much is this?", "history": "[]"}, headers={"Accept": "application/json"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["products"][0]["id"] == "lamp-blue"


@pytest.mark.parametrize("request_args, status, message", [
    ({"json": {"question": ""}}, 422, "invalid request: question: String should have at least 1 character"),
    ({"json": {"question": "a mug?", "history": [{"question": "hi"}]}}, 422,
     "invalid request: history.0.answer: Field required"),
    ({"data": {"question": "a mug?", "history": "[{"}}, 422,
     "invalid request: history: Invalid JSON: EOF while parsing an object at line 1 column 2"),
    ({"data": {"question": "a mug?", "filters": '{"price": {"lt": "cheap"}}'},
      "headers": {"Accept": "application/json"}}, 400, "price lt: expected a finite number, got 'cheap'"),
    ({"content": b"{", "headers": {"Content-Type": "application/json"}}, 400,
     'the body must be JSON {"question", "history", "filters"}, or multipart/form-data with the fields of AskForm '
     "(see /docs)"),
])
def test_bad_questions_get_a_clear_4xx_naming_the_field(http, request_args, status, message):
    if "data" in request_args:  # multipart, as a browser's FormData sends it
        request_args = {**request_args, "files": {"image": ("lamp.png", png(), "image/png")}}
    reply = http.post("/api/ask", **request_args)
    assert (reply.status_code, reply.json()) == (status, {"error": message})


class SlowChatModel(ScriptedChatModel):
    """A hosted model on a slow day: a piece of its answer every ``pause_s``."""

    pause_s: float = 0.25

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs):
        for chunk in self._stream(messages, stop):
            await asyncio.sleep(self.pause_s)
            yield chunk


SLOW_LIMITS = ServeLimits(max_waiting_asks=1, request_timeout_s=4.0, keepalive_s=0.2)


@pytest.fixture(scope="module")
def slow(shop):
    """An app whose chat model takes ~12 s an answer, one question in line at most, answers cut at 4 s."""
    _, config = shop
    model = SlowChatModel(reply=lambda prompt: "Have a look at the first one [1]. " * 8, prompts=[])
    with running(create_app(config, llm=model, limits=SLOW_LIMITS)) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        assert client.post("/api/search", json={"text": "mug"}).status_code == 200  # the first search warms up
        yield client


QUESTION = {"question": "a mug under 400"}  # answered by the chat model (a budget question)


def next_event(lines: Iterator[str]) -> str:
    """The name of the next event on a stream's lines, keep-alive pings skipped. (``lines`` stays open: a closed
    line iterator closes the connection.)"""
    for line in lines:
        if line.startswith("event: "):
            return line.removeprefix("event: ")
    raise AssertionError("the stream ended")


@contextmanager
def admitted(client: httpx.Client, within_s: float = 10) -> Iterator[httpx.Response]:
    """A streamed question that got into the line (asked again while the line is full, for up to ``within_s``),
    closed (its client gone) when the block ends."""
    deadline = time.monotonic() + within_s
    while (reply := client.send(client.build_request("POST", "/api/ask", json=QUESTION), stream=True)).status_code \
            == 429:
        reply.close()
        assert time.monotonic() < deadline, "the line stayed full"
        time.sleep(0.1)
    try:
        yield reply
    finally:
        reply.close()


def test_a_full_line_answers_429_before_any_event_and_a_client_gone_frees_its_place(slow):
    with admitted(slow) as first:
        lines = first.iter_lines()
        assert next_event(lines) == "products"  # it holds the chat model
        for accept in ("text/event-stream", "application/json"):
            busy = slow.post("/api/ask", json=QUESTION, headers={"Accept": accept})
            assert (busy.status_code, busy.headers["content-type"], busy.headers["retry-after"]) == (
                429, "application/json", "5")
            assert busy.json() == {"error": "the line for the chat model is full (1 waiting); try again shortly"}
    # The first client went away mid-answer: its place is freed, and the next question gets in.
    with admitted(slow, within_s=1.5) as second:  # well before the first would be cut at 4 s
        assert (second.status_code, next_event(second.iter_lines())) == (200, "products")


def test_a_stream_past_the_time_limit_ends_with_an_error_event_and_frees_its_place(slow):
    with admitted(slow) as reply:
        started = time.monotonic()
        streamed, pings = read_events(reply.read().decode())
        took = time.monotonic() - started
    names = [name for name, _ in streamed]
    assert names[0] == "products" and names[-1] == "error" and set(names[1:-1]) <= {"answer"}, names
    assert streamed[-1][1] == {"error": "the answer passed the 4 s limit and was cut"}
    assert took < 5.0
    assert pings and all(re.fullmatch(r": ping - \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00:00", p) for p in pings)
    # Its place is free: the next question gets in at once.
    with slow.stream("POST", "/api/ask", json=QUESTION) as next_one:
        assert (next_one.status_code, next_event(next_one.iter_lines())) == (200, "products")
