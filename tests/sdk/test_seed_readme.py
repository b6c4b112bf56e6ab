"""Every snippet of shared/seed-readme.md, run against a live engine, sync then async.

Placeholders (APP_ID, ids, addresses) are filled with real values from the engine; the code
lines are otherwise the README's. Section numbers refer to seed-readme.md.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from mailfactory import Mailbox
from smtp_listener import SmtpListener

import nylas
from nylas import APIClient, AsyncAPIClient
from nylas.testing import LocalEngine

# --------------------------------------------------------------------------- token-mode engine

PASSWORD = "correct horse battery staple"
REDIRECT_URL = "http://0.0.0.0:8888/login_callback"


@pytest.fixture(scope="module")
def token_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    """An engine in token mode (the hosted-style OAuth flow), with one app and one user."""
    engine = LocalEngine(
        tmp_path_factory.mktemp("token-engine"), auth="token", env={"NYLAS_TEST_PW": PASSWORD}
    )
    engine.app = engine.create_app("Seed README", redirect_uri=REDIRECT_URL)  # type: ignore[attr-defined]
    engine.user = engine.add_account("owner@example.com", password_env="NYLAS_TEST_PW")  # type: ignore[attr-defined]
    with engine:
        yield engine


def browser_login(url: str, email: str, password: str) -> dict[str, list[str]]:
    """What the user's browser does with `authentication_url`: open the engine's login page,
    sign in, and follow the redirect to the callback (returns the callback's query)."""
    with httpx.Client(timeout=30) as browser:
        page = browser.get(url)
        assert page.status_code == 200, page.text
        fields = {
            html.unescape(name): html.unescape(value)
            for name, value in re.findall(
                r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page.text
            )
        }
        fields.update(email=email, password=password, action="allow")
        answer = browser.post(url.split("?")[0], data=fields)
        assert answer.status_code in (302, 303), answer.text
        location = answer.headers["location"]
    assert location.startswith(REDIRECT_URL)
    return parse_qs(urlparse(location).query)


def test_1_1_to_1_4_oauth_flow(token_engine: Any) -> None:
    APP_ID = token_engine.app["client_id"]
    APP_SECRET = token_engine.app["client_secret"]
    server = token_engine.url

    # 1.1: step 1, the redirect to the login page
    redirect_url = "http://0.0.0.0:8888/login_callback"
    client = APIClient(APP_ID, APP_SECRET, api_server=server)
    url = client.authentication_url(redirect_url)
    assert url.startswith(server + "/oauth/authorize?")
    args = browser_login(url, "owner@example.com", PASSWORD)

    # 1.2: step 2, the callback exchanges the code
    session: dict[str, Any] = {}
    assert "error" not in args
    client = APIClient(APP_ID, APP_SECRET, api_server=server)
    code = args.get("code")[0]  # type: ignore[index]
    session["access_token"] = client.token_for_code(code)
    assert session["access_token"] and client.access_token == session["access_token"]

    # 1.4: connecting to the account with the token
    token = session["access_token"]
    client = APIClient(APP_ID, APP_SECRET, token, server)
    print(client.account.email_address)
    print(client.account.provider)
    assert client.account.email_address == "owner@example.com"
    assert client.account.provider

    # 1.3: revoke the token; the server no longer accepts it
    client.revoke_token()
    assert client.access_token is None
    with pytest.raises(nylas.client.errors.NotAuthorizedError):
        APIClient(APP_ID, APP_SECRET, token, server).account  # noqa: B018


def test_1_2_login_error_is_reported_to_the_callback(token_engine: Any) -> None:
    client = APIClient(
        token_engine.app["client_id"],
        token_engine.app["client_secret"],
        api_server=token_engine.url,
    )
    with pytest.raises(nylas.client.errors.APIError) as info:
        client.token_for_code("not-a-real-code")
    assert info.value.status_code == 400
    assert client.access_token is None


def test_app_accounts_and_token_info(token_engine: Any) -> None:
    app = token_engine.app
    client = APIClient(app["client_id"], app["client_secret"], api_server=token_engine.url)
    code = browser_login(client.authentication_url(REDIRECT_URL), "owner@example.com", PASSWORD)
    token = client.token_for_code(code["code"][0])
    accounts = client.accounts
    mine = accounts.find(token_engine.user["id"])
    assert mine.email == "owner@example.com"
    assert [a.id for a in accounts.all()] == [token_engine.user["id"]]
    info = client.token_info()
    assert info["state"] == "valid" and "email" in info["scopes"]
    assert mine.downgrade().billing_state == "cancelled"
    assert mine.upgrade().billing_state == "paid"
    client.revoke_all_tokens()
    assert client.access_token is None
    with pytest.raises(nylas.client.errors.NotAuthorizedError):
        APIClient(None, None, token, token_engine.url).account  # noqa: B018


@pytest.mark.anyio
async def test_1_1_to_1_4_oauth_flow_async(token_engine: Any) -> None:
    APP_ID = token_engine.app["client_id"]
    APP_SECRET = token_engine.app["client_secret"]
    async with AsyncAPIClient(APP_ID, APP_SECRET, api_server=token_engine.url) as client:
        url = client.authentication_url(REDIRECT_URL, login_hint="owner@example.com", state="s1")
        args = browser_login(url, "owner@example.com", PASSWORD)
        assert args["state"] == ["s1"]
        token = await client.token_for_code(args["code"][0])
        assert (await client.account).email_address == "owner@example.com"
        await client.revoke_token()
    async with AsyncAPIClient(APP_ID, APP_SECRET, token, token_engine.url) as client:
        with pytest.raises(nylas.client.errors.NotAuthorizedError):
            await client.account


# ------------------------------------------------------------------------- open-engine mail


def test_1_4_connecting_open_engine(engine: Any, account: dict[str, Any]) -> None:
    APP_ID = APP_SECRET = None
    token = account["id"]
    client = APIClient(APP_ID, APP_SECRET, token, engine.url)
    print(client.account.email_address)
    print(client.account.provider)
    assert client.account.email_address == account["email_address"]
    assert client.account.provider == "custom"


def fill_inbox(mailbox: Mailbox) -> dict[str, Any]:
    first = mailbox.add("Lunch with nylas folks", from_="Ben <ben@nylas.com>", unread=True)
    mailbox.add("Re: Lunch with nylas folks", reply_to=first, unread=False, starred=True)
    other = mailbox.add("Quarterly report", from_="Carol <carol@example.org>", unread=False)
    return {"first": first, "other": other}


def test_1_5_fetching_threads(client: APIClient, mailbox: Mailbox, capsys: Any) -> None:
    made = fill_inbox(mailbox)

    # Fetch the first thread
    thread = client.threads.first()
    assert thread is not None and thread.subject == "Quarterly report"  # newest first

    # Fetch a specific thread
    thread = client.threads.find(made["first"]["thread_id"])
    assert thread.subject == "Lunch with nylas folks"
    assert client.threads.get(thread.id) == thread

    # List all threads tagged `inbox`
    for thread in client.threads.values():
        print(thread.subject)
    assert capsys.readouterr().out.split("\n")[:2] == ["Quarterly report", "Lunch with nylas folks"]

    # List the 5 most recent unread threads
    for thread in client.threads.where(unread=True, limit=5):
        print(thread.subject)
    assert capsys.readouterr().out == "Lunch with nylas folks\n"

    # List starred threads
    for thread in client.threads.where(starred=True):
        print(thread.subject)
    assert capsys.readouterr().out == "Lunch with nylas folks\n"

    # List all threads with 'ben@nylas.com'
    for thread in client.threads.where(any_email="ben@nylas.com").values():
        print(thread.subject)
    assert capsys.readouterr().out == "Lunch with nylas folks\n"


def test_1_6_searching(client: APIClient, mailbox: Mailbox) -> None:
    fill_inbox(mailbox)
    # Find all threads with the word "nylas"
    threads = client.threads.search("nylas")
    # Find all messages with the word "nylas"
    messages = client.messages.search("nylas")
    assert isinstance(threads, list) and isinstance(messages, list)
    assert [t.subject for t in threads] == ["Lunch with nylas folks"]
    assert sorted(m.subject for m in messages) == [
        "Lunch with nylas folks",
        "Re: Lunch with nylas folks",
    ]
    assert client.messages.search("nylas", limit=1, offset=1)[0].id == messages[1].id


def test_1_7_threads_and_messages_folders(client: APIClient, mailbox: Mailbox, capsys: Any) -> None:
    made = fill_inbox(mailbox)
    thread = client.threads.find(made["first"]["thread_id"])
    message = client.messages.find(made["first"]["id"])

    # List thread participants
    for participant in thread.participants or []:
        print(participant["email"])
    assert "ben@nylas.com" in capsys.readouterr().out.split()

    # Mark as read
    thread.mark_as_read()
    assert thread.unread is False
    assert client.threads.find(thread.id).unread is False
    # Mark as unread
    thread.mark_as_unread()
    assert client.threads.find(thread.id).unread is True
    # Star a thread
    thread.star()
    assert thread.starred is True and client.threads.find(thread.id).starred is True
    # Unstar it
    thread.unstar()
    assert client.threads.find(thread.id).starred is False

    # Move a message or thread to a different folder (Non-Gmail)
    trash_id = next(f.id for f in client.folders if f.name == "trash")
    moved = message.update_folder(trash_id)
    assert moved is message and message.folder is not None
    assert message.folder["id"] == trash_id
    assert client.messages.find(message.id).folder["id"] == trash_id  # type: ignore[index]

    # List messages
    for message in thread.messages.values():
        print(message.subject)
    assert sorted(capsys.readouterr().out.splitlines()) == [
        "Lunch with nylas folks",
        "Re: Lunch with nylas folks",
    ]

    # Get the raw contents of a message
    message = client.messages.find(made["other"]["id"])
    print(message.raw)
    assert message.raw == made["other"]["raw"]


def test_1_7_labels_on_gmail(gmail: APIClient, gmail_mailbox: Mailbox) -> None:
    made = gmail_mailbox.add("Label me", labels=["inbox"])
    message = gmail.messages.find(made["id"])
    important_id = next(label.id for label in gmail.labels if label.name == "important")
    custom = gmail.labels.create()
    custom.display_name = "Custom"
    custom.save()

    # Add a new label to a message or thread (Gmail)
    message.add_label(important_id)
    assert important_id in {label["id"] for label in message.labels or []}

    # Remove a label from a message or thread (Gmail)
    message.remove_label(important_id)
    assert important_id not in {label["id"] for label in message.labels or []}

    # Batch update labels on a message or thread (Gmail)
    inbox_id = next(label.id for label in gmail.labels if label.name == "inbox")
    label_ids = [important_id, custom.id]
    message.update_labels([inbox_id, *label_ids])
    stored = gmail.messages.find(message.id)
    assert {label["id"] for label in stored.labels or []} >= {important_id, custom.id}

    thread = gmail.threads.find(made["thread_id"])
    thread.remove_labels([custom.id or ""])
    assert custom.id not in {label["id"] for label in thread.labels or []}


def test_1_8_expanded_message_view(client: APIClient, mailbox: Mailbox) -> None:
    made = fill_inbox(mailbox)
    message = client.messages.where(in_="inbox", view="expanded").first()
    assert message is not None and message.headers is not None
    assert message.headers["Message-Id"] == made["other"]["message_id_header"]
    assert message.headers["References"] is None
    assert message.headers["In-Reply-To"] is None
    reply = client.messages.where(
        in_="inbox", view="expanded", subject="Re: Lunch with nylas folks"
    )
    headers = reply.first().headers  # type: ignore[union-attr]
    assert headers["In-Reply-To"] == made["first"]["message_id_header"]  # type: ignore[index]


def test_1_9_folders_and_labels(client: APIClient, gmail: APIClient, capsys: Any) -> None:
    # List labels
    for label in gmail.labels:
        print(label.id, label.display_name)
    assert "Inbox" in capsys.readouterr().out

    # Create a label
    label = gmail.labels.create()
    label.display_name = "My Label"
    label.save()
    assert label.id and gmail.labels.find(label.id).display_name == "My Label"

    # Create a folder
    folder = client.folders.create()
    folder.display_name = "My Folder"
    folder.save()
    assert folder.id and folder.name is None

    # Rename a folder (or label): core folders cannot be renamed, so take ours
    folder = client.folders.where(offset=0).all()[-1]
    assert folder.display_name == "My Folder"
    folder.display_name = "A Different Folder"
    folder.save()
    assert client.folders.find(folder.id).display_name == "A Different Folder"  # type: ignore[arg-type]

    # The README renames `client.folders.first()`, a core folder: the engine refuses that.
    core = client.folders.first()
    assert core is not None
    core.display_name = "A Different Folder"
    with pytest.raises(nylas.client.errors.InvalidRequestError):
        core.save()


def test_1_10_files(client: APIClient, tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.chdir(tmp_path)
    Path("test.py").write_text("print('hello')\n" * 1000)

    # Create a new file with the stream interface
    f = open("test.py")  # noqa: SIM115 - as the README writes it
    myfile = client.files.create()
    myfile.filename = "test.py"
    myfile.stream = f
    myfile.save()
    f.close()

    # Create a new file with the data interface
    myfile2 = client.files.create()
    myfile2.filename = "test.txt"
    myfile2.data = "Hello World."
    myfile2.save()

    # List files
    for file in client.files:
        print(file.filename)
    assert capsys.readouterr().out == "test.py\ntest.txt\n"

    assert myfile.size == len("print('hello')\n" * 1000)
    assert myfile.download() == Path("test.py").read_bytes()
    assert b"".join(myfile2.stream()) == b"Hello World."
    target = myfile2.download_to(tmp_path / "copy.txt")
    assert Path(target).read_text() == "Hello World."
    myfile2.delete()
    assert [f.filename for f in client.files] == ["test.py"]


@pytest.fixture
def invitations(engine: Any, account: dict[str, Any]) -> Iterator[SmtpListener]:
    """The account's SMTP server: `notify_participants="true"` emails the invitations."""
    from sqlalchemy import select

    from nylas_engine.store.models import Account

    with SmtpListener() as smtp:
        with engine.db.session() as session:
            owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
            owner.smtp_host, owner.smtp_port = smtp.host, smtp.port
        yield smtp


def test_1_13_and_1_14_events(client: APIClient, invitations: SmtpListener) -> None:
    # Get a calendar that's not read only (Python 3 spelling of the README's filter()[0])
    calendar = next(cal for cal in client.calendars if not cal.read_only)
    # Create the event
    ev = client.events.create()
    ev.title = "Party at the Ritz"
    ev.when = {"start_time": 1416423667, "end_time": 1416448867}  # These numbers are UTC timestamps
    ev.location = "The Old Ritz"
    ev.participants = [{"name": "My Friend", "email": "my.friend@example.com"}]
    ev.calendar_id = calendar.id
    ev.save(notify_participants="true")  # notify_participants is sent as a query parameter
    assert ev.id and ev.status == "confirmed"
    assert ev.when is not None and ev.when["object"] == "timespan"

    # Update it
    ev.location = "The Waldorf-Astoria"
    ev.save()
    assert client.events.find(ev.id).location == "The Waldorf-Astoria"

    # Delete it
    client.events.delete(ev.id, notify_participants="true")
    assert client.events.find(ev.id).status == "cancelled"
    assert [m.rcpt_tos for m in invitations.messages] == [["my.friend@example.com"]] * 2


def test_1_15_and_1_16_message_filters(client: APIClient, mailbox: Mailbox) -> None:
    mailbox.add("To Ben", from_="me@example.com", to=["ben@nylas.com"])
    mailbox.add("From someone", from_="email@example.com")

    messages = client.messages.where(to="ben@nylas.com").all()
    assert [m.subject for m in messages] == ["To Ben"]

    messages = client.messages.where(from_="email@example.com")
    assert [m.subject for m in messages] == ["From someone"]
    # or
    messages = client.messages.where(**{"from": "email@example.com"})
    assert [m.subject for m in messages] == ["From someone"]


def test_1_18_open_source_sync_engine(
    engine: Any, account: dict[str, Any], mailbox: Mailbox
) -> None:
    mailbox.add("Hello engine", body="The body of the first message")
    server = engine.url + "/"  # the README's 'http://localhost:5555/'

    client = APIClient(None, None, None, server)
    # Get the id of the first account -- this is the access token we're going to use.
    account_id = client.accounts.where(email_address=account["email_address"]).first().id  # type: ignore[union-attr]
    assert account_id == account["id"]

    # Display the contents of the first message for the first account
    client = APIClient(None, None, account_id, server)
    print(client.messages.first().body)  # type: ignore[union-attr]
    assert "The body of the first message" in client.messages.first().body  # type: ignore[union-attr,operator]


# ------------------------------------------------------------------------------ async twins


@pytest.mark.anyio
async def test_1_5_and_1_6_async(aclient: AsyncAPIClient, mailbox: Mailbox) -> None:
    made = fill_inbox(mailbox)
    thread = await aclient.threads.first()
    assert thread is not None and thread.subject == "Quarterly report"
    thread = await aclient.threads.find(made["first"]["thread_id"])
    assert thread.subject == "Lunch with nylas folks"
    assert [t.subject async for t in aclient.threads.values()] == [
        "Quarterly report",
        "Lunch with nylas folks",
    ]
    assert [t.subject async for t in aclient.threads.where(unread=True, limit=5)] == [
        "Lunch with nylas folks"
    ]
    assert [t.subject async for t in aclient.threads.where(starred=True)] == [
        "Lunch with nylas folks"
    ]
    found = [t.subject async for t in aclient.threads.where(any_email="ben@nylas.com").values()]
    assert found == ["Lunch with nylas folks"]
    assert [t.subject for t in await aclient.threads.search("nylas")] == ["Lunch with nylas folks"]
    assert len(await aclient.messages.search("nylas")) == 2


@pytest.mark.anyio
async def test_1_7_and_1_8_async(aclient: AsyncAPIClient, mailbox: Mailbox) -> None:
    made = fill_inbox(mailbox)
    thread = await aclient.threads.find(made["first"]["thread_id"])
    await thread.mark_as_read()
    assert (await aclient.threads.find(thread.id or "")).unread is False
    await thread.mark_as_unread()
    await thread.star()
    assert thread.starred is True
    await thread.unstar()
    assert (await aclient.threads.find(thread.id or "")).starred is False
    trash_id = next([f.id async for f in aclient.folders if f.name == "trash"].__iter__())
    message = await aclient.messages.find(made["first"]["id"])
    assert (await message.update_folder(trash_id or "")).folder["id"] == trash_id  # type: ignore[index]
    subjects = sorted([m.subject async for m in thread.messages.values()])  # type: ignore[type-var]
    assert subjects == ["Lunch with nylas folks", "Re: Lunch with nylas folks"]
    assert await message.raw == made["first"]["raw"]
    expanded = await aclient.messages.where(in_="inbox", view="expanded").first()
    assert expanded is not None and expanded.headers is not None
    assert expanded.headers["Message-Id"] == made["other"]["message_id_header"]


@pytest.mark.anyio
async def test_1_7_labels_and_1_9_async(
    engine: Any, gmail_account: dict[str, Any], gmail_mailbox: Mailbox
) -> None:
    made = gmail_mailbox.add("Label me", labels=["inbox"])
    async with AsyncAPIClient(None, None, gmail_account["id"], engine.url) as gmail:
        labels = [label async for label in gmail.labels]
        important_id = next(label.id for label in labels if label.name == "important") or ""
        label = gmail.labels.create()
        label.display_name = "My Label"
        await label.save()
        message = await gmail.messages.find(made["id"])
        await message.add_label(important_id)
        assert important_id in {lab["id"] for lab in message.labels or []}
        await message.remove_label(important_id)
        assert important_id not in {lab["id"] for lab in message.labels or []}
        await message.update_labels([*message._label_ids(), label.id or ""])
        stored = await gmail.messages.find(made["id"])
        assert label.id in {lab["id"] for lab in stored.labels or []}


@pytest.mark.anyio
async def test_1_9_and_1_10_async(aclient: AsyncAPIClient, tmp_path: Path) -> None:
    folder = aclient.folders.create()
    folder.display_name = "My Folder"
    await folder.save()
    folder.display_name = "A Different Folder"
    await folder.save()
    assert (await aclient.folders.find(folder.id or "")).display_name == "A Different Folder"

    path = tmp_path / "test.py"
    path.write_text("print('hi')\n")
    with open(path) as f:
        myfile = aclient.files.create()
        myfile.filename = "test.py"
        myfile.stream = f
        await myfile.save()
    myfile2 = aclient.files.create()
    myfile2.filename = "test.txt"
    myfile2.data = "Hello World."
    await myfile2.save()
    assert [f.filename async for f in aclient.files] == ["test.py", "test.txt"]
    assert await myfile.download() == b"print('hi')\n"
    assert b"".join([c async for c in myfile2.stream()]) == b"Hello World."


@pytest.mark.anyio
async def test_1_13_and_1_14_async(aclient: AsyncAPIClient, invitations: SmtpListener) -> None:
    calendar = next(cal for cal in await aclient.calendars.all() if not cal.read_only)
    ev = aclient.events.create()
    ev.title = "Party at the Ritz"
    ev.when = {"start_time": 1416423667, "end_time": 1416448867}
    ev.location = "The Old Ritz"
    ev.participants = [{"name": "My Friend", "email": "my.friend@example.com"}]
    ev.calendar_id = calendar.id
    await ev.save(notify_participants="true")
    ev.location = "The Waldorf-Astoria"
    await ev.save()
    assert (await aclient.events.find(ev.id or "")).location == "The Waldorf-Astoria"
    await aclient.events.delete(ev.id or "", notify_participants="true")
    assert (await aclient.events.find(ev.id or "")).status == "cancelled"
    assert len(invitations.messages) == 2


@pytest.mark.anyio
async def test_1_15_to_1_18_async(engine: Any, account: dict[str, Any], mailbox: Mailbox) -> None:
    mailbox.add("To Ben", from_="me@example.com", to=["ben@nylas.com"], body="first body")
    mailbox.add("From someone", from_="email@example.com")
    async with AsyncAPIClient(None, None, None, engine.url + "/") as opened:
        first = await opened.accounts.where(email_address=account["email_address"]).first()
        assert first is not None
        account_id = first.id
    async with AsyncAPIClient(None, None, account_id, engine.url + "/") as client:
        assert [m.subject for m in await client.messages.where(to="ben@nylas.com").all()] == [
            "To Ben"
        ]
        assert [m.subject async for m in client.messages.where(from_="email@example.com")] == [
            "From someone"
        ]
        assert len(await client.messages.where(**{"from": "email@example.com"}).all()) == 1
        rows = [
            (a.sync_status, a.account_id, a.trial, a.trial_expires)
            async for a in opened_accounts(engine)
        ]
        assert any(row[1] == account_id for row in rows)


async def opened_accounts(engine: Any) -> Any:
    async with AsyncAPIClient(None, None, None, engine.url) as client:
        async for acc in client.accounts:
            yield acc


def test_webhooks_crud_and_signature(token_engine: Any) -> None:
    import hashlib
    import hmac

    from nylas.models import Webhook

    app = token_engine.app
    client = APIClient(app["client_id"], app["client_secret"], api_server=token_engine.url)
    hook = client.webhooks.create(
        callback_url="https://example.com/hook", triggers=["message.created"]
    )
    hook.save()
    assert hook.id and hook.state == "active" and hook.application_id == app["client_id"]
    assert [w.id for w in client.webhooks] == [hook.id]
    hook.state = "inactive"
    hook.save()
    assert client.webhooks.find(hook.id).state == "inactive"
    hook.delete()
    assert client.webhooks.all() == []

    body = b'{"deltas": []}'
    signature = hmac.new(app["client_secret"].encode(), body, hashlib.sha256).hexdigest()
    assert nylas.verify_webhook_signature(signature, body, app["client_secret"])
    assert Webhook.verify_webhook_signature(signature, body, app["client_secret"])
    assert not nylas.verify_webhook_signature(signature, body + b" ", app["client_secret"])


def test_account_revoke_all_keeps_one_token(token_engine: Any) -> None:
    app = token_engine.app
    client = APIClient(app["client_id"], app["client_secret"], api_server=token_engine.url)
    tokens = []
    for _ in range(2):
        code = browser_login(client.authentication_url(REDIRECT_URL), "owner@example.com", PASSWORD)
        tokens.append(client.token_for_code(code["code"][0]))
    account = client.accounts.find(token_engine.user["id"])
    account.revoke_all(keep_access_token=tokens[1])
    assert APIClient(None, None, tokens[1], token_engine.url).account.id == account.id
    with pytest.raises(nylas.client.errors.NotAuthorizedError):
        APIClient(None, None, tokens[0], token_engine.url).account  # noqa: B018
