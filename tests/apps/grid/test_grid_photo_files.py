"""Photo files follow their rows' transactions: an action or report that fails after its
photos were written leaves no new file, a file a committed attachment names survives
(also when another upload rolls back around it), and the orphan sweep removes only old
files no attachment names."""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from tests.apps.grid.event_city import EventCity, build
from typer.testing import CliRunner

from zhili.apps.grid import photo_files
from zhili.apps.grid.attachments import PhotoUpload, check_photo, photo_path, store_photos
from zhili.apps.grid.event_models import Attachment, GridEvent
from zhili.apps.grid.events import Action, act
from zhili.calendar.service import WorkCalendar
from zhili.clock import utcnow
from zhili.errors import Conflict, InvalidInput

URL = "/api/v1/grid/events"
HOURS = dt.timedelta(hours=1)


@pytest.fixture()
def city(db) -> EventCity:
    return build(db)


@pytest.fixture()
def home(settings) -> Path:
    return settings.home


def jpeg(color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, "JPEG")
    return out.getvalue()


def path_of(home: Path, data: bytes) -> Path:
    return photo_path(home, check_photo(data, declared_type=None, filename="", max_bytes=2**20))


def files(home: Path) -> list[Path]:
    """Every file in the photo store, temporary ones included."""
    root = home / "grid" / "photos"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def attachments(city: EventCity) -> list[tuple[int, str]]:
    with city.db.session() as s:
        return [(e, sha) for e, sha in s.execute(select(Attachment.event_id, Attachment.sha256))]


def acknowledged(city: EventCity) -> int:
    """A grid worker's report, taken by 城管: the next step, handling, carries photos.
    Reported now, not in the past: the app's job runner sweeps at the real time, and an
    overdue event it escalates meanwhile would refuse the next action."""
    event_id, _, _ = city.report("gw", at=utcnow())
    assert city.act("h1", event_id, "acknowledge", utcnow()) == "acknowledged"
    return event_id


def handle(s: Session, city: EventCity, event_id: int, home: Path, data: bytes) -> GridEvent:
    """Handle the event with a photo, as the API and the pages do, without committing."""
    actor = city.actor("h1")
    event = act(s, actor, event_id, Action("handle", note="已清理"), WorkCalendar.from_session(s))
    store_photos(
        s, event, [PhotoUpload(data, "done.jpg", "image/jpeg")], uploaded_by="h1",
        step_seq=event.seq, home=home,
    )  # fmt: skip
    assert path_of(home, data).is_file()  # written before the failure
    return event


def state(city: EventCity, event_id: int) -> str:
    with city.db.session() as s:
        event = s.get(GridEvent, event_id)
        assert event is not None
        return event.state


def _act_again(s: Session, city: EventCity, event_id: int) -> None:
    act(s, city.actor("h1"), event_id, Action("handle"), WorkCalendar.from_session(s))


def _unknown_action(s: Session, city: EventCity, event_id: int) -> None:
    act(s, city.actor("h1"), event_id, Action("tidy"), WorkCalendar.from_session(s))


def _broken_sql(s: Session, city: EventCity, event_id: int) -> None:
    s.execute(text("SELECT nothing FROM no_such_table"))


FAILURES: dict[str, tuple[Callable[[Session, EventCity, int], None], type[Exception]]] = {
    "409 wrong state": (_act_again, Conflict),
    "422 later validation": (_unknown_action, InvalidInput),
    "database error": (_broken_sql, DBAPIError),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_an_action_failing_after_its_photo_was_written_leaves_no_file(city, home, failure) -> None:
    event_id = acknowledged(city)
    then, error = FAILURES[failure]
    with pytest.raises(error), city.db.session() as s:
        handle(s, city, event_id, home, jpeg("green"))
        then(s, city, event_id)
    assert files(home) == [] and attachments(city) == []
    assert state(city, event_id) == "acknowledged"


def test_a_session_closed_without_commit_leaves_no_file(city, home) -> None:
    event_id = acknowledged(city)
    s = city.db.sessions()
    handle(s, city, event_id, home, jpeg("green"))
    s.close()
    assert files(home) == [] and attachments(city) == []


def test_a_committed_action_keeps_its_photo(city, home) -> None:
    event_id = acknowledged(city)
    with city.db.session() as s:
        handle(s, city, event_id, home, jpeg("green"))
    assert files(home) == [path_of(home, jpeg("green"))]
    assert attachments(city) == [(event_id, path_of(home, jpeg("green")).stem)]


@pytest.mark.parametrize("door", ["api", "page"])
def test_a_409_over_http_after_the_photo_was_stored_leaves_no_file(
    city, client, login, home, monkeypatch, door
) -> None:
    """The JSON API lets the error end the request's transaction; the page rolls back
    itself and goes on to show the form again in a new one."""
    import zhili.web.api.grid_events as api
    import zhili.web.pages.grid_events as pages

    module = api if door == "api" else pages
    url = f"{URL}/{{id}}/actions" if door == "api" else "/grid/events/{id}/act"
    event_id = acknowledged(city)
    login("h1")
    stored = module.store_photos

    def then_changed(*args, **kwargs):  # the photos are stored, then the step is refused
        stored(*args, **kwargs)
        assert files(home) != []
        raise Conflict("grid.event_changed", "event {id} was changed", id=event_id)

    monkeypatch.setattr(module, "store_photos", then_changed)
    photo = ("photos", ("after.jpg", jpeg("white"), "image/jpeg"))
    form = {"action": "handle", "note": "已清理"}
    refused = client.post(url.format(id=event_id), data=form, files=[photo])
    assert refused.status_code == 409, refused.text
    assert files(home) == [] and attachments(city) == []
    assert state(city, event_id) == "acknowledged"
    monkeypatch.setattr(module, "store_photos", stored)
    done = client.post(url.format(id=event_id), data=form, files=[photo], follow_redirects=False)
    assert done.status_code in (200, 303), done.text
    assert files(home) == [path_of(home, jpeg("white"))]
    assert state(city, event_id) == "handled"


def test_a_file_a_committed_attachment_names_survives_a_failed_action(city, home) -> None:
    shared = jpeg("green")
    first = acknowledged(city)
    with city.db.session() as s:
        handle(s, city, first, home, shared)
    stored = path_of(home, shared)
    second = acknowledged(city)
    with pytest.raises(Conflict), city.db.session() as s:
        handle(s, city, second, home, shared)  # the same bytes: the same file
        _act_again(s, city, second)
    assert files(home) == [stored] and stored.read_bytes() == shared
    assert attachments(city) == [(first, stored.stem)]

    # the file was lost (a restore without the photo store) and this attempt wrote it
    # again: it is this attempt's, yet the committed row names it, so it stays
    stored.unlink()
    with pytest.raises(Conflict), city.db.session() as s:
        handle(s, city, second, home, shared)
        _act_again(s, city, second)
    assert files(home) == [stored] and stored.read_bytes() == shared


def test_a_reuse_committing_while_the_writer_rolls_back_gets_its_file_again(city, home) -> None:
    data = jpeg("navy")
    path = path_of(home, data)
    one, two = acknowledged(city), acknowledged(city)
    writer, reuser = city.db.sessions(), city.db.sessions()
    try:
        handle(writer, city, one, home, data)  # creates the file
        photo_files.write_photo(reuser, path, path.stem, data)  # finds it there
        reuser.add(
            Attachment(
                event_id=two, step_seq=1, sha256=path.stem, media_type="image/jpeg",
                size=len(data), width=64, height=48, filename="b.jpg", uploaded_by="gw",
            )
        )  # fmt: skip
        writer.rollback()
        assert not path.exists()  # nobody committed a row naming it
        reuser.commit()
    finally:
        writer.close()
        reuser.close()
    assert path.read_bytes() == data and files(home) == [path]
    assert attachments(city) == [(two, path.stem)]


def test_a_photo_of_a_rolled_back_savepoint_goes_at_the_commit(city, home) -> None:
    kept, dropped = jpeg("olive"), jpeg("maroon")
    event_id, _, _ = city.report("gw", at=utcnow())
    with city.db.session() as s:
        event = s.get(GridEvent, event_id)
        assert event is not None
        store_photos(s, event, [PhotoUpload(kept)], uploaded_by="gw", step_seq=1, home=home)
        nested = s.begin_nested()
        store_photos(s, event, [PhotoUpload(dropped)], uploaded_by="gw", step_seq=1, home=home)
        nested.rollback()
        assert path_of(home, dropped).exists()  # decided when the whole transaction ends
    assert files(home) == [path_of(home, kept)]


# --- the orphan sweep ----------------------------------------------------------------------


def age(path: Path, by: dt.timedelta) -> Path:
    then = (dt.datetime.now(dt.UTC) - by).timestamp()
    os.utime(path, (then, then))
    return path


def orphan(home: Path, data: bytes, old: dt.timedelta = 2 * HOURS) -> Path:
    path = path_of(home, data)
    assert photo_files.write_whole(path, data)
    return age(path, old)


def test_the_sweep_removes_old_orphans_and_keeps_fresh_and_named_files(city, home) -> None:
    event_id = acknowledged(city)
    with city.db.session() as s:
        handle(s, city, event_id, home, jpeg("green"))
    named = age(path_of(home, jpeg("green")), 30 * 24 * HOURS)
    old, fresh = orphan(home, jpeg("red")), orphan(home, jpeg("blue"), old=dt.timedelta(0))
    half, busy = named.with_name(".upload-x1.part"), named.with_name(".upload-x2.part")
    half.write_bytes(b"half")  # a write cut short by a crash, and one going on
    busy.write_bytes(b"being written")
    age(half, 2 * HOURS)
    # a discard cut short by a crash: of a named file (put back) and of an orphan (removed)
    set_aside = age(named.rename(named.with_name(f".discard-ab12-{named.name}")), 2 * HOURS)
    lost = orphan(home, jpeg("black"))
    lost_aside = age(lost.rename(lost.with_name(f".discard-cd34-{lost.name}")), 2 * HOURS)
    assert not named.exists()

    report = photo_files.sweep_orphan_photos(city.db.engine, home, grace=HOURS)
    assert sorted(files(home)) == sorted([named, fresh, busy])
    assert named.read_bytes() == jpeg("green") and not set_aside.exists()
    assert not old.exists() and not half.exists() and not lost_aside.exists()
    assert (report.scanned, report.young, report.removed) == (6, 2, 3)
    assert report.freed == len(jpeg("red")) + len(b"half") + len(jpeg("black"))
    again = photo_files.sweep_orphan_photos(city.db.engine, home, grace=HOURS)
    assert (again.scanned, again.removed) == (3, 0)


def test_an_old_orphan_reused_by_an_upload_in_flight_is_left_to_it(city, home) -> None:
    data = jpeg("purple")
    path = orphan(home, data)
    event_id = acknowledged(city)
    with city.db.session() as s:
        handle(s, city, event_id, home, data)  # finds the file there and touches it
        report = photo_files.sweep_orphan_photos(city.db.engine, home, grace=HOURS)
        assert (report.young, report.removed) == (1, 0) and path.exists()
    assert path.read_bytes() == data and attachments(city) == [(event_id, path.stem)]


def test_the_sweep_of_an_empty_store(db, home) -> None:
    report = photo_files.sweep_orphan_photos(db.engine, home)
    assert (report.scanned, report.removed) == (0, 0)


def test_the_cli_sweeps_photos_on_request(city, home, settings) -> None:
    from zhili.cli.main import app

    old, fresh = orphan(home, jpeg("red")), orphan(home, jpeg("blue"), old=dt.timedelta(0))
    plain = CliRunner().invoke(app, ["grid", "sweep"])
    assert plain.exit_code == 0, plain.output
    assert "photos" not in plain.output and old.exists()
    swept = CliRunner().invoke(app, ["grid", "sweep", "--photos", "--grace", "600"])
    assert swept.exit_code == 0, swept.output
    assert "photos: 0 of 2 files removed" in swept.output and old.exists()  # both < 10 h
    swept = CliRunner().invoke(app, ["grid", "sweep", "--photos"])
    assert "photos: 1 of 2 files removed" in swept.output
    assert not old.exists() and fresh.exists()
