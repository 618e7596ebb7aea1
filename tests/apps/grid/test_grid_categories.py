"""The event catalogue (事项目录): the shipped catalogue imports; every bad spec is refused
whole, naming its category, attribute and field, with nothing written; answers are checked
per Open311 datatype; routes pick the deepest area's department; time limits count
working time across weekends and holidays."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from typer import Typer
from typer.testing import CliRunner

from zhili.access import Actor, system_actor
from zhili.apps.grid import categories as service
from zhili.apps.grid.models import CategoryRoute, EventCategory, GridArea
from zhili.audit.models import AuditEntry
from zhili.calendar.service import WorkCalendar
from zhili.clock import CITY_TZ
from zhili.errors import Forbidden, InvalidInput, NotFound
from zhili.synth.departments import departments

ADMIN = system_actor()


def good(**changes: Any) -> dict[str, Any]:
    """A valid category (handled by PSB) with one attribute of every datatype."""
    spec: dict[str, Any] = {
        "code": "noise",
        "name": "噪声扰民",
        "name_en": "Noise nuisance",
        "group": "生态环境",
        "department": "PSB",
        "level": "street",
        "keywords": ["噪音", "noise"],
        "time_limits": {
            "register": {"amount": 2, "unit": "hours"},
            "handle": {"amount": 3, "unit": "days"},
        },
        "attributes": [
            {"code": "note", "variable": False, "datatype": "string", "order": 0,
             "description": "夜间请拨打 110"},
            {"code": "source", "datatype": "singlevaluelist", "required": True, "order": 1,
             "description": "来源", "values": [{"key": "construction", "name": "施工"},
                                               {"key": "business", "name": "经营"}]},
            {"code": "kinds", "datatype": "multivaluelist", "order": 2, "description": "类型",
             "values": [{"key": "music", "name": "音乐"}, {"key": "machine", "name": "机器"}]},
            {"code": "db", "datatype": "number", "order": 3, "description": "分贝"},
            {"code": "noise_time", "datatype": "datetime", "required": True, "order": 4,
             "description": "发生时间"},
            {"code": "place", "datatype": "string", "order": 5, "description": "地点"},
            {"code": "detail", "datatype": "text", "order": 6, "description": "说明"},
        ],
    }  # fmt: skip
    spec.update(changes)
    return spec


def attr(spec: dict[str, Any], code: str) -> dict[str, Any]:
    return next(a for a in spec["attributes"] if a["code"] == code)


def count(world, model) -> int:
    with world.db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def add_area(session, code: str, level: str, parent: GridArea | None = None) -> GridArea:
    """A grid area inserted directly (a square; the geography service is not needed)."""
    area = GridArea(
        code=code, name=code, level=level, parent_id=parent.id if parent else None,
        geometry={"type": "Polygon", "coordinates": [[[117, 39], [118, 39], [118, 40],
                                                      [117, 39]]]},
        min_lon=117, min_lat=39, max_lon=118, max_lat=40, center_lon=117.5, center_lat=39.5,
    )  # fmt: skip
    session.add(area)
    session.flush()
    area.path = f"{parent.path if parent else '/'}{area.id}/"
    return area


@pytest.fixture()
def areas(world) -> dict[str, int]:
    """City → district D1 (→ street S1 → grid G1) and district D2."""
    with world.db.session() as s:
        city = add_area(s, "C", "city")
        d1 = add_area(s, "D1", "district", city)
        s1 = add_area(s, "S1", "street", d1)
        g1 = add_area(s, "G1", "grid", s1)
        d2 = add_area(s, "D2", "district", city)
        return {a.code: a.id for a in (city, d1, s1, g1, d2)}


def do_import(world, data: Any, actor: Actor = ADMIN) -> service.ImportReport:
    with world.db.session() as s:
        return service.import_categories(s, actor, data, by="test")


# --- the shipped catalogue ----------------------------------------------------------------


def test_the_shipped_catalogue_imports_and_reimports(world) -> None:
    for dep in departments():
        world.org(dep.code, dep.name, "city", dep.kind, "CITY")
    first = do_import(world, service.load_shipped())
    assert 30 <= first.created <= 40 and first.updated == 0
    again = do_import(world, service.load_shipped())
    assert (again.created, again.updated) == (0, first.created)
    with world.db.session() as s:
        rows = service.list_categories(s)
        groups = {c.group for c in rows}
        assert {"市容环境", "市政设施", "园林绿化", "交通运输", "公共安全", "市场监管",
                "生态环境", "民生服务", "社会治安"} <= groups  # fmt: skip
        assert all(c.name_en and c.group_en and c.time_limits and c.attributes for c in rows)
        piling = service.get_category(s, "material-piling")
        assert piling.name_en == "Building materials blocking a road"
        assert piling.department.name == "城市管理委员会"
        assert service.get_category(s, "streetlight-out").name_en == "Street with no lights"
        assert service.get_category(s, "fire-lane-blocked").department.name == "应急管理局"
        acts = s.scalars(select(AuditEntry).where(AuditEntry.action == "grid.catalogue_import"))
        assert len(acts.all()) == 2


def test_open311_service_and_definition(world) -> None:
    do_import(world, [good()])
    with world.db.session() as s:
        noise = service.get_category(s, "noise")
        assert service.open311_service(noise) == {
            "service_code": "noise", "service_name": "噪声扰民", "description": "",
            "metadata": True, "type": "realtime", "keywords": "噪音,noise", "group": "生态环境",
        }  # fmt: skip
        assert service.open311_service(noise, "en")["service_name"] == "Noise nuisance"
        definition = service.open311_definition(noise)
        assert definition["service_code"] == "noise"
        first, source = definition["attributes"][:2]
        assert first == {"variable": False, "code": "note", "datatype": "string",
                         "required": False, "datatype_description": "", "order": 0,
                         "description": "夜间请拨打 110"}  # fmt: skip
        assert source["values"] == [{"key": "construction", "name": "施工"},
                                    {"key": "business", "name": "经营"}]  # fmt: skip
        assert "values" not in definition["attributes"][3]


# --- refused specs ------------------------------------------------------------------------


def _bad_cases() -> list[tuple[str, Any, str, str]]:
    """(label, import data, error code, text the message must contain)."""
    cases: list[tuple[str, Any, str, str]] = []

    def case(label: str, data: Any, code: str, text: str) -> None:
        cases.append((label, data, code, text))

    def edit(fn) -> dict[str, Any]:
        spec = good()
        fn(spec)
        return spec

    bad_value, missing, unknown = ("grid.category_bad_value", "grid.category_missing_key",
                                   "grid.category_unknown_key")  # fmt: skip
    case("code chars", [good(code="bad code!")], bad_value, "code")
    case("code long", [good(code="x" * 33)], bad_value, "code")
    case("no name", [{k: v for k, v in good().items() if k != "name"}], missing, "name")
    case("unknown key", [good(colour="red")], unknown, "colour")
    case("level", [good(level="province")], bad_value, "level")
    case("dup code", [good(), good()], bad_value, "code")
    case("stage", [good(time_limits={"fix": {"amount": 1, "unit": "days"}})], unknown, "fix")
    case("amount 0", [good(time_limits={"handle": {"amount": 0, "unit": "days"}})],
         bad_value, "time_limits.handle.amount")  # fmt: skip
    case("amount -", [good(time_limits={"handle": {"amount": -2, "unit": "hours"}})],
         bad_value, "time_limits.handle.amount")  # fmt: skip
    case("half day", [good(time_limits={"handle": {"amount": 1.5, "unit": "days"}})],
         bad_value, "time_limits.handle.amount")  # fmt: skip
    case("unit", [good(time_limits={"handle": {"amount": 1, "unit": "weeks"}})],
         bad_value, "time_limits.handle.unit")  # fmt: skip
    case("datatype", [edit(lambda s: attr(s, "db").update(datatype="integer"))],
         bad_value, "attributes.db.datatype")  # fmt: skip
    case("dup attribute", [edit(lambda s: attr(s, "db").update(code="place"))],
         bad_value, "attributes.place.code")  # fmt: skip
    case("no values", [edit(lambda s: attr(s, "source").update(values=[]))],
         bad_value, "attributes.source.values")  # fmt: skip
    case("dup key", [edit(lambda s: attr(s, "kinds").update(
        values=[{"key": "a", "name": "A"}, {"key": "a", "name": "B"}]))],
         bad_value, "attributes.kinds.values[1].key")  # fmt: skip
    case("value name", [edit(lambda s: attr(s, "kinds").update(values=[{"key": "a"}]))],
         missing, "attributes.kinds.values[0]")  # fmt: skip
    case("values on number", [edit(lambda s: attr(s, "db").update(values=[]))],
         bad_value, "attributes.db.values")  # fmt: skip
    case("order", [edit(lambda s: attr(s, "db").update(order="3"))],
         bad_value, "attributes.db.order")  # fmt: skip
    case("required flag", [edit(lambda s: attr(s, "db").update(required="yes"))],
         bad_value, "attributes.db.required")  # fmt: skip
    case("required info", [edit(lambda s: attr(s, "note").update(required=True))],
         bad_value, "attributes.note.required")  # fmt: skip
    case("no description", [edit(lambda s: attr(s, "db").pop("description"))],
         bad_value, "attributes.db.description")  # fmt: skip
    case("attr key", [edit(lambda s: attr(s, "db").update(label="x"))],
         unknown, "attributes.db")  # fmt: skip
    case("attr code", [edit(lambda s: attr(s, "db").update(code="a b"))],
         bad_value, "attributes[3].code")  # fmt: skip
    case("department", [good(department="NOPE")], "grid.category_unknown_org", "department")
    case("route area", {"categories": [good()],
                        "routes": [{"category": "noise", "area": "ZZ", "department": "PSB"}]},
         "grid.route_unknown_area", "routes[0].area")  # fmt: skip
    case("route org", {"categories": [good()],
                       "routes": [{"category": "noise", "area": "D1", "department": "X"}]},
         "grid.category_unknown_org", "routes[0].department")  # fmt: skip
    case("route category", {"routes": [{"category": "nope", "area": "D1", "department": "PSB"}]},
         "grid.route_unknown_category", "routes[0].category")  # fmt: skip
    case("route twice", {"categories": [good()], "routes": [
        {"category": "noise", "area": "D1", "department": "PSB"},
        {"category": "noise", "area": "D1", "department": "BUREAU"}]},
         bad_value, "routes[1].area")  # fmt: skip
    case("empty", [], bad_value, "categories")
    case("not a list", "noise", bad_value, "mapping")
    return cases


def test_every_bad_spec_is_refused_naming_the_field_and_nothing_is_written(world, areas) -> None:
    fine = good(code="fine")
    for label, data, code, text in _bad_cases():
        if isinstance(data, list) and data:
            data = [copy.deepcopy(fine), *data]  # a good category before the bad one
        with pytest.raises(InvalidInput) as caught:
            do_import(world, data)
        assert caught.value.code == code, (label, caught.value.code)
        for locale in ("en", "zh-CN"):
            message = caught.value.message(locale)
            assert text in message, (label, message)
            assert str(caught.value.params.get("category", "")) in message, (label, message)
        assert count(world, EventCategory) == 0, label
        assert count(world, CategoryRoute) == 0, label
    # the parameters name the category, the field and the attribute
    with pytest.raises(InvalidInput) as caught:
        do_import(world, [good(level="x")])
    assert caught.value.params["category"] == "noise" and caught.value.params["field"] == "level"
    with pytest.raises(InvalidInput) as caught:
        do_import(world, [good(attributes=[{**attr(good(), "db"), "datatype": "int"}])])
    assert caught.value.params["attribute"] == "db"
    assert count(world, AuditEntry) == 0


def test_only_platform_admins_import(world) -> None:
    analyst = Actor(kind="user", username="a", roles=frozenset({"commander"}))
    with pytest.raises(Forbidden):
        do_import(world, [good()], analyst)
    with world.db.session() as s, pytest.raises(NotFound) as caught:
        service.get_category(s, "noise")
    assert caught.value.code == "grid.category_not_found"


def test_an_import_updates_by_code_and_retires(world) -> None:
    do_import(world, [good()])
    report = do_import(world, [good(name="夜间噪声", active=False)])
    assert (report.created, report.updated) == (0, 1)
    with world.db.session() as s:
        assert service.list_categories(s) == []
        assert [c.name for c in service.list_categories(s, active=None)] == ["夜间噪声"]
        assert service.list_categories(s, group="生态环境", active=False)[0].code == "noise"


# --- answers ------------------------------------------------------------------------------


def test_answers_are_checked_and_normalized() -> None:
    category = service.parse_catalogue([good()]).categories[0]
    out = service.validate_answers(
        category,
        {"source": "business", "kinds": ["music", "machine", "music"], "db": "1,200",
         "noise_time": "2025-10-08T22:30", "place": "  3号楼 ", "detail": "每晚"},
    )  # fmt: skip
    assert out == {
        "source": "business", "kinds": ["music", "machine"], "db": 1200,
        "noise_time": "2025-10-08T22:30:00+08:00", "place": "3号楼", "detail": "每晚",
    }  # fmt: skip
    minimal = service.validate_answers(
        category,
        {
            "source": "construction",
            "noise_time": "2025-10-08T14:30:00Z",
            "db": 55.5,
            "kinds": [],
            "place": "",
        },
    )
    assert minimal == {"source": "construction", "noise_time": "2025-10-08T14:30:00+00:00",
                       "db": 55.5}  # fmt: skip

    ok = {"source": "business", "noise_time": "2025-10-08T22:30"}
    for answers, code, attribute in [
        ({"noise_time": "2025-10-08T22:30"}, "grid.answer_required", "source"),
        ({"source": "business", "noise_time": "  "}, "grid.answer_required", "noise_time"),
        ({**ok, "colour": "red"}, "grid.answer_unknown", "colour"),
        ({**ok, "note": "x"}, "grid.answer_unknown", "note"),  # informational only
        ({**ok, "source": "party"}, "grid.answer_bad_value", "source"),
        ({**ok, "source": ["business"]}, "grid.answer_bad_value", "source"),
        ({**ok, "kinds": "music"}, "grid.answer_bad_value", "kinds"),
        ({**ok, "kinds": ["music", "drums"]}, "grid.answer_bad_value", "kinds"),
        ({**ok, "db": "loud"}, "grid.answer_bad_value", "db"),
        ({**ok, "db": True}, "grid.answer_bad_value", "db"),
        ({**ok, "db": "nan"}, "grid.answer_bad_value", "db"),
        ({**ok, "db": 10**400}, "grid.answer_bad_value", "db"),
        ({**ok, "noise_time": "yesterday"}, "grid.answer_bad_value", "noise_time"),
        ({**ok, "noise_time": 20251008}, "grid.answer_bad_value", "noise_time"),
        ({**ok, "place": 12}, "grid.answer_bad_value", "place"),
        ({**ok, "place": "x" * 1001}, "grid.answer_bad_value", "place"),
        ({**ok, "detail": {"a": 1}}, "grid.answer_bad_value", "detail"),
    ]:  # fmt: skip
        with pytest.raises(InvalidInput) as caught:
            service.validate_answers(category, answers)
        assert (caught.value.code, caught.value.params["attribute"]) == (code, attribute), answers
        assert attribute in caught.value.message("en")


def test_answers_from_open311_form_encoding() -> None:
    items = [
        ("attribute[source]", "business"),
        ("attribute[kinds][]", "music"),
        ("attribute[kinds][]", "machine"),
        ("attribute[one]", "a"),
        ("csrf_token", "x"),
    ]
    assert service.answers_from_form(items, ["one"]) == {
        "source": "business", "kinds": ["music", "machine"], "one": ["a"]
    }  # fmt: skip


# --- routes -------------------------------------------------------------------------------


def test_the_deepest_route_decides_else_the_category_department(world, areas) -> None:
    world.org("CM", "城市管理委员会", "city", "department", "CITY")
    routes = [{"category": "noise", "area": "D1", "department": "D01"},
              {"category": "noise", "area": "S1", "department": "D01S01"}]  # fmt: skip
    report = do_import(world, {"categories": [good()], "routes": routes})
    assert report.routes == 2
    with world.db.session() as s:
        noise = service.get_category(s, "noise")
        area = {code: s.get(GridArea, i) for code, i in areas.items()}
        assert service.responsible_department(s, noise, area["D2"]).code == "PSB"
        assert service.responsible_department(s, noise, area["C"]).code == "PSB"
        assert service.responsible_department(s, noise, area["D1"]).code == "D01"
        assert service.responsible_department(s, noise, area["S1"]).code == "D01S01"
        assert service.responsible_department(s, noise, area["G1"]).code == "D01S01"
        assert [r.area.code for r in service.routes_of(s, noise)] == ["D1", "S1"]
    # a route is replaced by (category, area), and may be imported on its own
    do_import(world, {"routes": [{"category": "noise", "area": "S1", "department": "CM"}]})
    with world.db.session() as s:
        noise = service.get_category(s, "noise")
        g1 = s.get(GridArea, areas["G1"])
        assert service.responsible_department(s, noise, g1).code == "CM"
    assert count(world, CategoryRoute) == 2


# --- time limits --------------------------------------------------------------------------


def test_deadlines_count_working_time(world, seeded_calendar) -> None:
    do_import(world, [good(time_limits={
        "register": {"amount": 2, "unit": "hours"}, "acknowledge": {"amount": 0.5, "unit": "hours"},
        "handle": {"amount": 3, "unit": "days"}})])  # fmt: skip
    with world.db.session() as s:
        noise = service.get_category(s, "noise")
        cal = WorkCalendar.from_session(s)

    def at(*args: int) -> dt.datetime:
        return dt.datetime(*args, tzinfo=CITY_TZ)

    # Friday 16:30 + 2 working hours: 1 h on Friday, 1 h on Monday
    assert service.deadline(noise, "register", at(2025, 10, 17, 16, 30), cal) == at(
        2025, 10, 20, 10, 0
    )
    # Tuesday 30 September 17:00 + 2 h: the National Day holiday (1–8 October) is skipped
    assert service.deadline(noise, "register", at(2025, 9, 30, 17, 0), cal) == at(
        2025, 10, 9, 10, 30
    )
    # Saturday evening + half an hour: Monday 09:30
    assert service.deadline(noise, "acknowledge", at(2025, 10, 18, 20, 0), cal) == at(
        2025, 10, 20, 9, 30
    )
    # 3 working days from Friday 26 September: Sunday 28th is a 调休 make-up working day
    assert service.deadline(noise, "handle", at(2025, 9, 26, 10, 0), cal) == at(2025, 9, 30, 17, 30)
    assert service.deadline(noise, "verify", at(2025, 9, 26, 10, 0), cal) is None
    with pytest.raises(InvalidInput) as caught:
        service.deadline(noise, "close", at(2025, 9, 26, 10, 0), cal)
    assert caught.value.code == "grid.stage_unknown"


# --- command line -------------------------------------------------------------------------


def test_the_command_line(world, settings, tmp_path) -> None:
    from zhili.cli.grid_categories import categories_app

    app = Typer()
    app.add_typer(categories_app, name="categories")

    def cli(*args: str):
        return CliRunner().invoke(app, ["categories", *args])

    missing = cli("import", "--shipped")
    assert missing.exit_code == 2 and "grid.category_unknown_org" in missing.output
    path = tmp_path / "cat.yaml"
    path.write_text("categories:\n  - code: noise\n    name: 噪声\n    group: 生态环境\n"
                    "    department: PSB\n    level: town\n", encoding="utf-8")  # fmt: skip
    bad = cli("import", str(path))
    assert bad.exit_code == 2 and "noise, level" in bad.output
    path.write_text("categories: [\n", encoding="utf-8")
    assert "grid.catalogue_syntax" in cli("import", str(path)).output
    assert cli("import").exit_code == 2
    path.write_text(
        "- {code: noise, name: 噪声扰民, name_en: Noise, group: 生态环境, department: PSB,"
        " level: street, time_limits: {handle: {amount: 3, unit: days}}}\n", encoding="utf-8"
    )  # fmt: skip
    done = cli("import", str(path))
    assert done.exit_code == 0 and "1 categories created" in done.output
    listed = cli("list")
    assert listed.exit_code == 0 and "noise" in listed.output and "handle 3d" in listed.output
    shown = cli("show", "noise")
    assert shown.exit_code == 0 and '"department"' in shown.output and "公安局" in shown.output
    assert "grid.category_not_found" in cli("show", "nope").output
