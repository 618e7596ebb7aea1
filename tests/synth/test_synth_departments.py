"""Departments carry valid, stable unified social credit codes."""

from __future__ import annotations

import pytest
from stdnum.cn import uscc as stdnum_uscc

from zhili.synth import uscc
from zhili.synth.departments import department, departments

REQUIRED = (
    "大数据管理中心 公安局 民政局 卫生健康委员会 人力资源和社会保障局 交通运输委员会 "
    "市场监督管理委员会 生态环境局 住房和城乡建设委员会 规划和自然资源局 教育委员会 医疗保障局 "
    "税务局 城市管理委员会 应急管理局 财政局 统计局 退役军人事务局 残疾人联合会 城市一卡通公司 "
    "公共资源交易中心"
)


def test_the_line_up() -> None:
    deps = departments()
    names = {d.name for d in deps}
    assert set(REQUIRED.split()) <= names
    assert deps[0].short == "bureau" and deps[0].name == "大数据管理中心"
    assert len({d.short for d in deps}) == len(deps) == len(names)
    assert {d.kind for d in deps} == {"department", "institution", "enterprise"}
    assert department("police").full_name == "示例市公安局"
    assert department("buscard").kind == "enterprise"
    assert department("disabled").kind == "institution"
    with pytest.raises(KeyError):
        department("nope")


def test_codes_are_valid_unified_social_credit_codes() -> None:
    codes = [d.code for d in departments()]
    assert len(set(codes)) == len(codes)
    for dep in departments():
        assert stdnum_uscc.is_valid(dep.code), dep
        assert uscc.is_valid(dep.code)
        assert dep.code[2:8] == "120000"
        assert uscc.org_code_check(dep.code[8:16]) == dep.code[16]  # GB 11714 inside
        prefix = {"department": "11", "institution": "1", "enterprise": "91"}[dep.kind]
        assert dep.code.startswith(prefix)


@pytest.mark.parametrize(
    ("code", "valid"),
    [("91110000600037341L", True), ("91110000600037341M", False), ("9111000060003734", False)],
)
def test_uscc_check_character(code: str, valid: bool) -> None:
    assert uscc.is_valid(code) is valid
    assert stdnum_uscc.is_valid(code) is valid


@pytest.mark.parametrize(
    ("code", "org_check"), [("9144030071526726XG", "X"), ("914403001922038216", "1")]
)
def test_org_code_check_on_real_codes(code: str, org_check: str) -> None:
    """Two listed companies' public codes: the 9-character organization code inside ends
    with its own GB 11714 check character."""
    assert uscc.org_code_check(code[8:16]) == org_check == code[16]
    assert uscc.is_valid(code)
