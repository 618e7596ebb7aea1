"""The demo city's resource catalog: what each department describes in the 信息资源目录.

Sixty-odd entries across the departments, written the way a bureau's catalog reads: base
resources (人口, 法人, 空间地理, 电子证照), theme resources (养老, 社会救助, 市场监管 …) and
department resources, with sharing and open types as real catalogs mix them. Items reuse a
small vocabulary of fields so schemas stay consistent across departments (an ID number is
always ``id_number``, ``format: cn-id``, sensitive personal information).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# name -> (title, type, extra Table Schema properties)
_F: dict[str, tuple[str, str, dict[str, Any]]] = {
    "id_number": (
        "公民身份号码",
        "string",
        {
            "format": "cn-id",
            "x-sensitivity": "sensitive_personal",
            "constraints": {"required": True},
        },
    ),
    "name": ("姓名", "string", {"x-sensitivity": "personal", "constraints": {"required": True}}),
    "sex": ("性别", "string", {"constraints": {"enum": ["男", "女"]}}),
    "sex_code": ("性别代码", "integer", {"constraints": {"enum": [1, 2]}}),
    "birth_date": ("出生日期", "date", {"x-sensitivity": "personal"}),
    "ethnicity": ("民族", "string", {}),
    "ethnicity_code": ("民族代码", "string", {}),
    "district_code": ("区代码", "string", {}),
    "street_code": ("街道代码", "string", {}),
    "community_code": ("社区代码", "string", {}),
    "grid_code": ("网格代码", "string", {}),
    "address": ("住址", "string", {"x-sensitivity": "personal"}),
    "phone": (
        "联系电话",
        "string",
        {"x-sensitivity": "personal", "constraints": {"pattern": "1[3-9][0-9]{9}"}},
    ),
    "registered_at": ("登记时间", "datetime", {}),
    "death_date": ("死亡日期", "date", {"constraints": {"required": True}}),
    "cause": ("死亡原因", "string", {"x-sensitivity": "sensitive_personal"}),
    "cremation_date": ("火化日期", "date", {}),
    "uscc": (
        "统一社会信用代码",
        "string",
        {"constraints": {"required": True, "pattern": "[0-9A-HJ-NPQRTUWXY]{18}"}},
    ),
    "company": ("企业名称", "string", {"constraints": {"required": True}}),
    "legal_rep": ("法定代表人", "string", {"x-sensitivity": "personal"}),
    "capital": ("注册资本", "number", {"x-unit": "万元", "constraints": {"minimum": 0}}),
    "founded": ("成立日期", "date", {}),
    "status": ("状态", "string", {}),
    "amount": ("金额", "number", {"x-unit": "元", "constraints": {"minimum": 0}}),
    "month": ("所属月份", "string", {"constraints": {"pattern": "[0-9]{4}-[0-9]{2}"}}),
    "card_no": ("卡号", "string", {"x-sensitivity": "personal"}),
    "plate": ("号牌号码", "string", {"x-sensitivity": "personal"}),
    "lon": ("经度", "number", {"constraints": {"minimum": -180, "maximum": 180}}),
    "lat": ("纬度", "number", {"constraints": {"minimum": -90, "maximum": 90}}),
    "title": ("名称", "string", {"constraints": {"required": True}}),
    "category": ("类别", "string", {}),
    "event_time": ("发生时间", "datetime", {}),
    "value": ("数值", "number", {}),
    "count": ("数量", "integer", {"constraints": {"minimum": 0}}),
    "date": ("日期", "date", {}),
    "school": ("学校", "string", {}),
    "hospital": ("医疗机构", "string", {}),
    "diagnosis": ("诊断", "string", {"x-sensitivity": "sensitive_personal"}),
    "license_no": ("证照编号", "string", {"constraints": {"required": True}}),
    "valid_until": ("有效期至", "date", {}),
}


def table_schema(*names: str, key: tuple[str, ...] = ()) -> dict[str, Any]:
    """A Table Schema from the shared field vocabulary."""
    fields = []
    for n in names:
        title, ftype, extra = _F[n]
        fields.append({"name": n, "title": title, "type": ftype, **extra})
    schema: dict[str, Any] = {"fields": fields}
    if key:
        schema["primaryKey"] = list(key)
    return schema


@dataclass(frozen=True)
class CatalogEntry:
    provider: str  # department short name
    code: str
    name: str
    name_en: str
    classification: str
    sharing_type: str
    open_type: str
    update_cycle: str
    grade: str
    tags: tuple[str, ...]
    schema: dict[str, Any]
    summary: str = ""
    sharing_conditions: str | None = None
    legal_basis: str | None = None
    methods: tuple[str, ...] = ("api",)
    extra: dict[str, Any] = field(default_factory=dict)


U, C, N = "unconditional", "conditional", "none"
PERSON = ("id_number", "name", "sex", "birth_date")
COND = "仅限履行法定职责所必需，按最小必要原则使用"
LAW = "《中华人民共和国个人信息保护法》第三十四条、第三十五条"

# The entries themselves are data: provider (department short name), code, names,
# classification, sharing and open types, cycle, grade, tags, fields and primary key.
ENTRIES_FILE = Path(__file__).parent / "data" / "catalog_entries.json"


def catalog_entries() -> list[CatalogEntry]:
    """The demo catalog in a stable order."""
    out = []
    for row in json.loads(ENTRIES_FILE.read_text(encoding="utf-8")):
        share = row["sharing_type"]
        out.append(
            CatalogEntry(
                provider=row["provider"],
                code=row["code"],
                name=row["name"],
                name_en=row["name_en"],
                classification=row["classification"],
                sharing_type=share,
                open_type=row["open_type"],
                update_cycle=row["update_cycle"],
                grade=row["grade"],
                tags=tuple(row["tags"]),
                schema=table_schema(*row["fields"], key=tuple(row["key"])),
                summary=f"{row['name']}（示例市）",
                sharing_conditions=COND if share == C else None,
                legal_basis=LAW if share == N else None,
                methods=("api", "file") if share != N else ("api",),
            )
        )
    return out
