"""Open311 GeoReport v2 at /open311/v2/, spoken to as 311 apps speak: form-encoded POSTs,
JSON and XML parsed with the standard library, field names checked against the spec —
and through a real client library (georeport) over HTTP."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.apps.grid.event_city import MONDAY, EventCity, build, category
from tests.apps.grid.grid_city import piece

from zhili.access import system_actor
from zhili.apps.grid.categories import import_categories
from zhili.apps.grid.event_models import GridEvent
from zhili.identity.tokens import create_token

BASE = "/open311/v2"
#: every field of a GET requests entry, in the spec's order
REQUEST_FIELDS = [
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
    "long", "media_url",
]  # fmt: skip
SERVICE_FIELDS = [
    "service_code", "service_name", "description", "metadata", "type", "keywords", "group",
]  # fmt: skip
ATTRIBUTE_FIELDS = [
    "variable", "code", "datatype", "required", "datatype_description", "order", "description",
]  # fmt: skip
#: a window around the fixture's Monday (events reported then are outside the default)
AROUND_MONDAY = {"start_date": "2025-03-01T00:00:00+08:00", "end_date": "2025-03-31T00:00:00Z"}
FULL_FORM = [
    {"code": "note", "datatype": "string", "variable": False, "order": 0, "description": "请拍照"},
    {"code": "who", "datatype": "string", "order": 1, "description": "谁"},
    {"code": "count", "datatype": "number", "required": True, "order": 2, "description": "数量"},
    {"code": "when", "datatype": "datetime", "order": 3, "description": "何时"},
    {"code": "story", "datatype": "text", "order": 4, "description": "经过"},
    {"code": "size", "datatype": "singlevaluelist", "order": 5, "description": "规模",
     "description_en": "Size",
     "values": [{"key": "s", "name": "小", "name_en": "Small"}, {"key": "l", "name": "大"}]},
    {"code": "kinds", "datatype": "multivaluelist", "order": 6, "description": "种类",
     "values": [{"key": "sand", "name": "砂石"}, {"key": "bricks", "name": "砖块"}]},
]  # fmt: skip


#: no background sweep escalating the fixture's events mid-test
pytestmark = pytest.mark.usefixtures("no_job_runner")


@pytest.fixture()
def city(db) -> EventCity:
    built = build(db)
    with db.session() as s:
        spec = category(code="full-form", name="全表单", name_en="Full form", attributes=FULL_FORM)
        import_categories(s, system_actor(), [spec], by="test")
    return built


def _token(city: EventCity, username: str, scopes: list[str]) -> str:
    with city.db.session() as s:
        issued = create_token(s, system_actor(), username=username, name="app", scopes=scopes)
        return issued.plaintext


def _xml(r: Any, root: str) -> ET.Element:
    assert r.headers["content-type"].startswith("text/xml"), r.headers["content-type"]
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    tree = ET.fromstring(r.content)
    assert tree.tag == root
    return tree


def _errors(r: Any, status: int) -> str:
    """The spec's error list (JSON), one error with the HTTP status as its code."""
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status
    return str(body[0]["description"])


def _report(city: EventCity, **fields: str) -> dict[str, str]:
    lon, lat = city.spot()
    form = {"service_code": "road-block", "lat": str(lat), "long": str(lon),
            "attribute[lanes]": "2", "description": "路中间堆了砖"}  # fmt: skip
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


def _events(city: EventCity) -> int:
    with city.db.session() as s:
        return s.scalar(select(func.count()).select_from(GridEvent)) or 0


# --- services -----------------------------------------------------------------------------


def test_services_in_json_and_xml_in_chinese_and_english(client, city) -> None:
    r = client.get(f"{BASE}/services.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    services = {s["service_code"]: s for s in r.json()}
    assert set(services) == {"road-block", "full-form"}
    road = services["road-block"]
    assert list(road) == SERVICE_FIELDS
    assert road["service_name"] == "乱堆物料" and road["metadata"] is True
    assert road["type"] == "realtime" and road["group"] == "市容环境"
    english = client.get(f"{BASE}/services.json", params={"locale": "en"}).json()
    assert {s["service_name"] for s in english} == {"Materials blocking a road", "Full form"}
    by_header = client.get(f"{BASE}/services.json", headers={"Accept-Language": "en-US,en"})
    assert by_header.json() == english

    tree = _xml(client.get(f"{BASE}/services.xml"), "services")
    entries = tree.findall("service")
    assert len(entries) == 2
    road_xml = next(e for e in entries if e.findtext("service_code") == "road-block")
    assert [c.tag for c in road_xml] == SERVICE_FIELDS
    assert road_xml.findtext("service_name") == "乱堆物料"
    assert road_xml.findtext("metadata") == "true"


def test_a_service_definition_with_every_datatype(client, city) -> None:
    tree = _xml(client.get(f"{BASE}/services/full-form.xml"), "service_definition")
    assert tree.findtext("service_code") == "full-form"
    attributes = tree.findall("attributes/attribute")
    assert [a.findtext("code") for a in attributes] == [a["code"] for a in FULL_FORM]
    for element in attributes:
        tags = [c.tag for c in element]
        assert tags[: len(ATTRIBUTE_FIELDS)] == ATTRIBUTE_FIELDS
        assert tags[len(ATTRIBUTE_FIELDS) :] in ([], ["values"])
    datatypes = {a.findtext("code"): a.findtext("datatype") for a in attributes}
    assert datatypes == {"note": "string", "who": "string", "count": "number",
                         "when": "datetime", "story": "text", "size": "singlevaluelist",
                         "kinds": "multivaluelist"}  # fmt: skip
    note = attributes[0]
    assert note.findtext("variable") == "false" and note.findtext("required") == "false"
    assert attributes[2].findtext("required") == "true"
    size = [(v.findtext("key"), v.findtext("name")) for v in attributes[5].findall("values/value")]
    assert size == [("s", "小"), ("l", "大")]
    assert attributes[6].find("values") is not None and attributes[1].find("values") is None

    english = client.get(f"{BASE}/services/full-form.json", params={"locale": "en"}).json()
    assert english["service_code"] == "full-form"
    size_en = english["attributes"][5]
    assert size_en["description"] == "Size"
    assert size_en["values"] == [{"key": "s", "name": "Small"}, {"key": "l", "name": "大"}]


def test_unknown_service_format_jurisdiction_and_path_are_404_in_open311_format(
    client, city
) -> None:
    assert "nothing" in _errors(client.get(f"{BASE}/services/nothing.json"), 404)
    assert "csv" in _errors(client.get(f"{BASE}/services.csv"), 404)
    wrong = client.get(f"{BASE}/services.json", params={"jurisdiction_id": "elsewhere.gov"})
    assert "elsewhere.gov" in _errors(wrong, 404)
    right = client.get(f"{BASE}/services.json", params={"jurisdiction_id": piece().city.code})
    assert right.status_code == 200
    _errors(client.get(f"{BASE}/nothing.json"), 404)
    tree = _xml(client.get(f"{BASE}/services/nothing.xml"), "errors")
    error = tree.find("error")
    assert error is not None and error.findtext("code") == "404"
    assert "nothing" in (error.findtext("description") or "")


def test_discovery_names_this_endpoint(client, city) -> None:
    doc = client.get(f"{BASE}/discovery.json").json()
    (endpoint,) = doc["endpoints"]
    assert endpoint["url"].endswith("/open311/v2") and endpoint["type"] == "production"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    tree = _xml(client.get(f"{BASE}/discovery.xml"), "discovery")
    formats = [f.text for f in tree.findall("endpoints/endpoint/formats/format")]
    assert formats == ["text/xml", "application/json"]


# --- POST requests ------------------------------------------------------------------------


def test_an_anonymous_report_waits_for_the_command_centre(client, city) -> None:
    form = _report(city, email="zhang@example.com", phone="13800138000", first_name="三丰",
                   last_name="张", address_string="劝业场街 1 号",
                   media_url="https://photos.example/1.jpg", device_id="d-1")  # fmt: skip
    form["attribute[lanes]"] = "1,200"  # read as a number, as on the native form
    r = client.post(f"{BASE}/requests.json", data=form)
    assert r.status_code == 201, r.text
    (row,) = r.json()
    assert list(row) == ["service_request_id", "service_notice", "account_id"]
    assert row["account_id"] is None and "立案" in row["service_notice"]
    with city.db.session() as s:
        event = s.get(GridEvent, int(row["service_request_id"]))
        assert event is not None
        assert (event.source, event.state, event.reporter_id) == ("open311", "reported", None)
        assert event.answers == {"lanes": 1200}
        assert event.reporter_name == "三丰 张"
        assert event.reporter_contact == "zhang@example.com / 13800138000"
        assert event.address == "劝业场街 1 号"
        assert event.description == "路中间堆了砖\nmedia_url: https://photos.example/1.jpg"


def test_a_grid_workers_app_reports_with_its_api_key_and_is_dispatched(client, city) -> None:
    key = _token(city, "gw", ["grid:report", "grid:read"])
    r = client.post(f"{BASE}/requests.xml", data=_report(city, api_key=key))
    assert r.status_code == 201, r.text
    tree = _xml(r, "service_requests")
    request = tree.find("request")
    assert request is not None
    assert [c.tag for c in request] == ["service_request_id", "service_notice", "account_id"]
    assert "已派遣至 城市管理委员会" in (request.findtext("service_notice") or "")
    with city.db.session() as s:
        event = s.get(GridEvent, int(request.findtext("service_request_id") or 0))
        assert event is not None and event.state == "dispatched"
        assert event.source == "grid_worker" and event.reporter_id is not None


def test_api_keys_that_may_not_report_are_403(client, city) -> None:
    read_only = _token(city, "gw", ["grid:read"])
    assert "grid:report" in _errors(
        client.post(f"{BASE}/requests.json", data=_report(city, api_key=read_only)), 403
    )
    _errors(client.post(f"{BASE}/requests.json", data=_report(city, api_key="zhl_nope")), 403)
    as_bearer = {"Authorization": f"Bearer {read_only}"}  # the header is held to it too
    _errors(client.post(f"{BASE}/requests.json", data=_report(city), headers=as_bearer), 403)
    assert _events(city) == 0
    reporter = {"Authorization": f"Bearer {_token(city, 'resident', ['grid:report'])}"}
    r = client.post(f"{BASE}/requests.json", data=_report(city), headers=reporter)
    assert r.status_code == 201, r.text
    with city.db.session() as s:
        event = s.get(GridEvent, int(r.json()[0]["service_request_id"]))
        assert event is not None and event.reporter_id is not None
        assert (event.source, event.state) == ("open311", "reported")  # not a grid worker


def test_refused_reports_name_the_problem_and_store_nothing(client, city) -> None:
    post = lambda **f: client.post(f"{BASE}/requests.json", data=_report(city, **f))  # noqa: E731
    where = _errors(post(lat=None, long=None, address_string="劝业场街 1 号"), 400)
    assert "lat" in where and "long" in where
    assert "lanes" in _errors(post(**{"attribute[lanes]": "many"}), 400)
    assert "lanes" in _errors(post(**{"attribute[lanes]": ""}), 400)
    assert "colour" in _errors(post(**{"attribute[colour]": "red"}), 400)
    assert _errors(post(lat="0", long="0"), 400)  # outside the city
    assert _errors(post(lat="north", long="east"), 400)
    assert _errors(post(media_url="file:///etc/passwd"), 400)
    assert "service_code" in _errors(post(service_code=""), 400)
    assert "nothing" in _errors(post(service_code="nothing"), 404)
    assert _errors(post(jurisdiction_id="elsewhere.gov"), 404)
    tree = _xml(client.post(f"{BASE}/requests.xml", data=_report(city, lat=None)), "errors")
    assert tree.findtext("error/code") == "400"
    assert _events(city) == 0
    assert post(jurisdiction_id=piece().city.code).status_code == 201
    assert _events(city) == 1


def test_multivaluelist_answers_in_the_form_encoding(client, city) -> None:
    form = _report(city, service_code="full-form", **{"attribute[count]": "3"})
    del form["attribute[lanes]"]
    items = [*form.items(), ("attribute[kinds][]", "sand"), ("attribute[kinds][]", "bricks"),
             ("attribute[size]", "l"), ("attribute[when]", "2025-03-10T09:00")]  # fmt: skip
    r = client.post(
        f"{BASE}/requests.json",
        content="&".join(f"{k}={v}" for k, v in items).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 201, r.text
    with city.db.session() as s:
        event = s.get(GridEvent, int(r.json()[0]["service_request_id"]))
        assert event is not None
        assert event.answers == {"count": 3, "when": "2025-03-10T09:00:00+08:00",
                                 "size": "l", "kinds": ["sand", "bricks"]}  # fmt: skip


# --- GET requests -------------------------------------------------------------------------


def _get(client, fmt: str = "json", **params: str) -> Any:
    r = client.get(f"{BASE}/requests.{fmt}", params=params)
    assert r.status_code == 200, r.text
    return r.json() if fmt == "json" else _xml(r, "service_requests")


def test_get_requests_filters(client, city) -> None:
    road, _, _ = city.report("gw")  # dispatched
    other, _, _ = city.report("gw", category="full-form", answers={"count": 1}, grid=2)
    rejected, _, _ = city.report(None, grid=1)
    city.act("cmd", rejected, "reject", note="不属于本街道")
    fresh = client.post(f"{BASE}/requests.json", data=_report(city)).json()[0]
    fresh_id = int(fresh["service_request_id"])

    ids = lambda rows: sorted(int(r["service_request_id"]) for r in rows)  # noqa: E731
    assert ids(_get(client)) == [fresh_id]  # the default: the most recent 90 days
    assert ids(_get(client, **AROUND_MONDAY)) == [road, other, rejected]
    assert ids(_get(client, service_code="full-form", **AROUND_MONDAY)) == [other]
    assert ids(_get(client, service_code="road-block,full-form", **AROUND_MONDAY)) == [
        road, other, rejected,
    ]  # fmt: skip
    assert ids(_get(client, status="closed", **AROUND_MONDAY)) == [rejected]
    assert ids(_get(client, status="open", **AROUND_MONDAY)) == [road, other]
    assert ids(_get(client, status="open,closed", **AROUND_MONDAY)) == [road, other, rejected]
    # ids win over every other filter
    listed = _get(client, service_request_id=f"{road},{fresh_id},999", status="closed")
    assert ids(listed) == [road, fresh_id]
    assert ids(_get(client, start_date="2025-03-10T09:00:00+08:00",
                    end_date="2025-03-10T09:29:00+08:00")) == []  # fmt: skip
    tree = _get(client, "xml", **AROUND_MONDAY)
    requests = tree.findall("request")
    assert len(requests) == 3 and all([c.tag for c in r] == REQUEST_FIELDS for r in requests)

    bad = lambda **p: client.get(f"{BASE}/requests.json", params=p)  # noqa: E731
    assert "90" in _errors(
        bad(start_date="2025-01-01T00:00:00Z", end_date="2025-06-01T00:00Z"), 400
    )
    assert "start_date" in _errors(bad(start_date="last tuesday"), 400)
    assert "pending" in _errors(bad(status="pending"), 400)
    assert "x1" in _errors(bad(service_request_id="1,x1"), 400)
    assert _errors(bad(service_request_id="99999999999999999999"), 400)
    assert _errors(bad(jurisdiction_id="elsewhere.gov"), 404)


def test_one_request_and_our_states_on_open_and_closed(client, city) -> None:
    event_id, _, _ = city.report("gw")
    with city.db.session() as s:
        event = s.get(GridEvent, event_id)
        assert event is not None and event.stage_due_at is not None
        due = event.stage_due_at

    (row,) = client.get(f"{BASE}/requests/{event_id}.json").json()
    assert list(row) == REQUEST_FIELDS
    assert row["service_request_id"] == str(event_id) and row["status"] == "open"
    assert row["status_notes"] == "已派遣至 城市管理委员会 (dispatched)"
    assert row["agency_responsible"] == "城市管理委员会"
    assert row["service_code"] == "road-block" and row["service_name"] == "乱堆物料"
    assert row["description"] == "建筑材料堆在路中间"
    assert row["requested_datetime"] == "2025-03-10T09:30:00+08:00"
    assert dt.datetime.fromisoformat(row["expected_datetime"]) == due
    assert row["updated_datetime"] == "2025-03-10T09:30:00+08:00"
    assert row["media_url"] is None and row["zipcode"] is None
    english = client.get(f"{BASE}/requests/{event_id}.json", params={"locale": "en"}).json()
    assert english[0]["status_notes"] == "Dispatched to 城市管理委员会 (dispatched)"
    assert english[0]["service_name"] == "Materials blocking a road"

    later = MONDAY + dt.timedelta(hours=3)
    city.act("h1", event_id, "acknowledge", later)
    city.act("h1", event_id, "handle", later, note="已清理，李四 13900000000 协助")
    city.act("gw", event_id, "verify", later)
    city.act("cmd", event_id, "close", later)
    tree = _xml(client.get(f"{BASE}/requests/{event_id}.xml"), "service_requests")
    (request,) = tree.findall("request")
    assert [c.tag for c in request] == REQUEST_FIELDS
    assert request.findtext("status") == "closed"
    assert request.findtext("status_notes") == "已结案 (closed)"
    assert request.findtext("expected_datetime") == ""
    assert request.findtext("updated_datetime") == "2025-03-10T12:30:00+08:00"
    assert "李四" not in tree.findtext("request/status_notes", "")
    assert b"13900000000" not in client.get(f"{BASE}/requests/{event_id}.xml").content

    assert str(event_id) in _errors(client.get(f"{BASE}/requests/{event_id + 100}.json"), 404)
    _errors(client.get(f"{BASE}/requests/abc.json"), 404)


def test_rejected_and_merged_are_closed(client, city) -> None:
    first, _, _ = city.report("gw")
    repeat, _, _ = city.report(None, spot=(city.spot()[0] + 0.0003, city.spot()[1]))
    city.act("cmd", repeat, "merge", note="重复", merge_into=first)
    rejected, _, _ = city.report(None, grid=1)
    city.act("cmd", rejected, "reject", note="不属于本街道")
    rows = {
        int(r["service_request_id"]): r
        for r in _get(client, service_request_id=f"{repeat},{rejected}")
    }
    assert rows[repeat]["status"] == "closed"
    assert rows[repeat]["status_notes"] == f"与诉求 {first} 重复，已并入 (merged)"
    assert rows[rejected]["status"] == "closed"
    assert rows[rejected]["status_notes"] == "不予立案 (rejected)"
    assert all(r["expected_datetime"] is None for r in rows.values())


def test_no_personal_data_in_any_get_output(client, city) -> None:
    personal = ["三丰", "zhang@example.com", "13800138000", "秘密的门牌号", "d-1", "acct-7"]
    form = _report(city, first_name="三丰", last_name="张", email="zhang@example.com",
                   phone="13800138000", description="秘密的门牌号 302 室门口",
                   address_string="秘密的门牌号 302", device_id="d-1",
                   account_id="acct-7")  # fmt: skip
    created = client.post(f"{BASE}/requests.json", data=form).json()[0]["service_request_id"]
    resident, _, _ = city.report(None, grid=1, reporter_name="王五", reporter_contact="wang@x.cn")
    personal += ["王五", "wang@x.cn"]

    def everything() -> bytes:
        out = b""
        for fmt in ("json", "xml"):
            out += client.get(f"{BASE}/requests.{fmt}").content
            out += client.get(f"{BASE}/requests.{fmt}", params=AROUND_MONDAY).content
            for request_id in (created, resident):
                out += client.get(f"{BASE}/requests/{request_id}.{fmt}").content
            out += client.get(f"{BASE}/services.{fmt}").content
        return out

    seen = everything().decode()
    assert not [p for p in personal if p in seen]
    (row,) = client.get(f"{BASE}/requests/{created}.json").json()
    assert row["description"] is None and row["address"] is None
    lon, lat = city.spot()
    assert (row["lat"], row["long"]) == (round(lat, 3), round(lon, 3))
    assert row["status_notes"].startswith("已上报")

    city.act("cmd", int(created), "register")  # screened: the reporter's words are public
    (row,) = client.get(f"{BASE}/requests/{created}.json").json()
    assert row["description"] == "秘密的门牌号 302 室门口"
    assert row["status_notes"].endswith("已立案，待派遣 (registered)")
    assert row["agency_responsible"] in row["status_notes"]  # the street's command centre
    assert (row["lat"], row["long"]) == (lat, lon)
    seen = everything().decode()
    assert not [p for p in ["三丰", "zhang@example.com", "13800138000", "王五"] if p in seen]


# --- a real client ------------------------------------------------------------------------


def test_a_real_open311_client_reads_everything(live_url: str, city) -> None:
    from georeport import GeoReport

    event_id, _, _ = city.report("gw")
    jurisdiction = piece().city.code
    for fmt in ("json", "xml"):
        client = GeoReport(f"{live_url}{BASE}", jurisdiction=jurisdiction, output_format=fmt)
        services = client.get_service_list()
        assert {s["service_code"] for s in services} == {"road-block", "full-form"}
        definition = client.get_service_definition("full-form")
        assert definition["service_code"] == "full-form"
        found = client.get_service_requests(service_request_id=str(event_id))
        found = found if isinstance(found, list) else [found]  # xmltodict: one is a dict
        assert [r["service_request_id"] for r in found] == [str(event_id)]
        one = client.get_service_request(str(event_id))
        assert one["status"] == "open" and one["agency_responsible"] == "城市管理委员会"
