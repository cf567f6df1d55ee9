"""The scorecards pages: each motion's scorecard in force, its versions and back-test, a
preview of a proposed version's colour distribution, and saving it (``scores:write``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.console.api.deps import Person
from services.console.domain.scorecards import (
    ScorecardForm,
    body_of,
    form_of,
    problems_of,
    read_form,
)
from services.console.platform import ApiProblem, Platform, ServiceDown, segment
from services.console.service.panels import FormError, Panel, panel

WRITE_SCOPE = "scores:write"
WHY_NOT_WRITE = (
    "saving a scorecard needs the scores:write scope (the cs role); you may still preview"
)


@dataclass
class ScorecardView:
    """One motion's page: the scorecard in force, its versions, the measures, the back-test,
    the editor's fields and (after a preview) the proposed colour distribution."""

    motion: str
    scorecard: Panel[dict[str, Any]]
    versions: Panel[list[dict[str, Any]]]
    measures: Panel[list[dict[str, Any]]]
    backtest: Panel[dict[str, Any]]
    form: ScorecardForm | None
    may_write: bool
    preview: dict[str, Any] | None = None
    error: FormError | None = None
    done: str | None = None

    @property
    def measure_names(self) -> list[str]:
        """The measures, in the API's order."""
        return [str(m["name"]) for m in self.measures.data or []]


async def scorecards(platform: Platform, person: Person) -> Panel[list[dict[str, Any]]]:
    """The scorecard in force for each motion."""
    return await panel(platform.get("scoring", "/v1/scorecards", person.key))


async def scorecard_page(
    platform: Platform,
    person: Person,
    motion: str,
    *,
    form: ScorecardForm | None = None,
    done: str | None = None,
) -> ScorecardView:
    """The motion's scorecard, versions, measures and back-test, read at once; the editor
    holds ``form`` (what was typed) or else the scorecard in force."""
    base = f"/v1/scorecards/{segment(motion)}"
    card, versions, measures, backtest = await asyncio.gather(
        panel(platform.get("scoring", base, person.key)),
        panel(platform.get("scoring", f"{base}/versions", person.key)),
        panel(platform.get("scoring", "/v1/scorecards/measures", person.key)),
        panel(platform.get("scoring", f"{base}/backtest", person.key)),
    )
    if form is None and card.data:
        form = form_of(card.data)
    return ScorecardView(
        motion=motion,
        scorecard=card,
        versions=versions,
        measures=measures,
        backtest=backtest,
        form=form,
        may_write=person.may(WRITE_SCOPE),
        done=done,
    )


@dataclass
class Edit:
    """What a preview or a save made of the editor: the fields as typed (with each one's
    problem), the measures they are of, and the API's answer or what is wrong."""

    form: ScorecardForm
    measures: list[dict[str, Any]] = field(default_factory=list)
    answer: dict[str, Any] | None = None
    error: FormError | None = None


async def measures_for(platform: Platform, person: Person) -> list[dict[str, Any]]:
    """The measures a scorecard weighs, in the API's order."""
    measures: list[dict[str, Any]] = await platform.get(
        "scoring", "/v1/scorecards/measures", person.key
    )
    return measures


def _refused(form: ScorecardForm, exc: ApiProblem) -> FormError:
    form.problems = problems_of(exc.field_errors())
    return FormError.of("scorecard", exc)


def _down(exc: ServiceDown) -> FormError:
    return FormError("scorecard", f"{exc}: nothing was changed; try again.", 503, {})


def _not_numbers(form: ScorecardForm) -> FormError:
    many = len(form.problems) > 1
    detail = "Some fields are not numbers" if many else "A field is not a number"
    return FormError("scorecard", f"{detail}: nothing was sent.", 422, {})


async def _send(
    platform: Platform,
    person: Person,
    fields: Mapping[str, str],
    method: str,
    path: str,
) -> Edit:
    edit = Edit(read_form(fields, []))
    try:
        edit.measures = await measures_for(platform, person)
        edit.form = read_form(fields, [str(m["name"]) for m in edit.measures])
        body, edit.form.problems = body_of(edit.form)
        if body is None:
            edit.error = _not_numbers(edit.form)
            return edit
        edit.answer = await platform.call("scoring", method, path, person.key, json=body)
    except ApiProblem as exc:
        edit.error = _refused(edit.form, exc)
    except ServiceDown as exc:
        edit.error = _down(exc)
    return edit


async def preview(
    platform: Platform, person: Person, motion: str, fields: Mapping[str, str]
) -> Edit:
    """The proposed scorecard's colour distribution (scoring re-scores the motion's accounts
    from their stored measures; nothing is saved), or what is wrong with the form."""
    path = f"/v1/scorecards/{segment(motion)}/preview"
    return await _send(platform, person, fields, "POST", path)


async def save(platform: Platform, person: Person, motion: str, fields: Mapping[str, str]) -> Edit:
    """Save the form as the motion's next scorecard version as this person: the answer is
    the new version, else the form and what is wrong with it (scoring's words)."""
    return await _send(platform, person, fields, "PUT", f"/v1/scorecards/{segment(motion)}")
