"""Sharing statistics add up the grant counters and the catalog, shown as JSON and a page."""

from __future__ import annotations

from test_exchange_door import CODE, city  # noqa: F401 (fixture)

from zhili.exchange import door, stats
from zhili.exchange.requests import today


def test_statistics_count_what_was_shared(city, client, login) -> None:  # noqa: F811
    for _ in range(2):
        with city["db"].session() as s:
            door.read_rows(s, city["cab"], home=city["home"], code=CODE, params=[])
    with city["db"].session() as s:
        result = stats.statistics(s, days=7)
    o = result["overview"]
    assert (o["rows_shared"], o["calls"], o["grants_active"]) == (4, 2, 1)
    assert (o["resources"], o["resources_with_data"], o["rows_held"]) == (1, 1, 3)
    assert o["departments_connected"] == 2  # PSB provides, CAB consumes
    assert result["by_day"][-1] == {"day": today().isoformat(), "rows": 4, "calls": 2}
    assert len(result["by_day"]) == 7
    assert [r["code"] for r in result["by_provider"]] == ["PSB"]
    assert [r["code"] for r in result["by_consumer"]] == ["CAB"]
    assert result["by_resource"][0] == {
        "code": CODE, "name": "死亡医学证明信息", "rows": 4, "calls": 2, "consumers": 1
    }  # fmt: skip
    login("edu.analyst")
    api = client.get("/api/v1/exchange/stats", params={"days": 3}).json()
    assert api["overview"]["rows_shared"] == 4 and len(api["by_day"]) == 3
    page = client.get("/exchange/stats")
    assert (
        page.status_code == 200
        and "共享统计" in page.text
        and 'data-kpi="rows_shared"' in page.text
    )
    assert client.get("/api/v1/exchange/stats", params={"days": 0}).status_code == 422
