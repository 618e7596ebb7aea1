"""Scenario templates (核验场景): pension eligibility, senior-card validity, minimum living
allowance — verification jobs whose matches are read as outcomes with actions.

The shipped scenario files (``pension.yaml``, ``senior_card.yaml``, ``dibao.yaml``) live
in this package; `spec` reads them, `service` lists them, finds the inputs that fit and
starts jobs, `outcomes` turns a job's matches into people and money per outcome. This
module is what routers, pages and the CLI import.
"""

from __future__ import annotations

from zhili.apps.verify.scenarios.outcomes import OUTCOME_COLUMN, Plan
from zhili.apps.verify.scenarios.service import (
    Candidate,
    candidates,
    defaults,
    get_scenario,
    list_scenarios,
    load_scenario,
    plan_for,
    scenario_files,
    scenario_problems,
    scenario_rules,
    slot_columns,
    start_scenario,
)
from zhili.apps.verify.scenarios.spec import (
    ROSTER,
    Finding,
    Outcome,
    Scenario,
    Slot,
    Text,
    parse_scenario,
    read_scenario_text,
)

__all__ = [
    "OUTCOME_COLUMN",
    "ROSTER",
    "Candidate",
    "Finding",
    "Outcome",
    "Plan",
    "Scenario",
    "Slot",
    "Text",
    "candidates",
    "defaults",
    "get_scenario",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
    "plan_for",
    "read_scenario_text",
    "scenario_files",
    "scenario_problems",
    "scenario_rules",
    "slot_columns",
    "start_scenario",
]
