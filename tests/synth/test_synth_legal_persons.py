"""Legal persons: valid and unique credit codes, deterministic, plausible values."""

from __future__ import annotations

from stdnum.cn import uscc

from zhili.synth.city import build_city
from zhili.synth.legal_persons import LEGAL_PERSON_SCHEMA, legal_persons


def test_codes_valid_unique_and_deterministic() -> None:
    city = build_city()
    a = legal_persons(5000, 7, city)
    b = legal_persons(5000, 7, city)
    assert a.equals(b) and a.schema == LEGAL_PERSON_SCHEMA
    codes = a.column("uscc").to_pylist()
    assert len(set(codes)) == len(codes)
    assert all(uscc.is_valid(c) for c in codes)
    districts = {d.code for d in city.districts}
    assert set(a.column("district_code").to_pylist()) <= districts
    assert all(code[2:8] in districts for code in codes[:100])
    assert min(a.column("capital").to_pylist()) > 0
    assert not legal_persons(100, 8, city).equals(legal_persons(100, 7, city))
