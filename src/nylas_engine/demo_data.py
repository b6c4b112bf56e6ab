"""A realistic, deterministic mailbox for the demo account, built as real MIME.

Everything comes from one seeded `random.Random`, so two runs make the same mail (dates are
relative to the day the demo is created, so the inbox looks current). The people, topics and
phrases are invented.
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

ME = ("Demo User", "demo@example.com")
HOUR = 3600
DAY = 24 * HOUR


@dataclass(frozen=True)
class Person:
    given: str
    surname: str
    email: str
    company: str
    title: str
    phone: str

    @property
    def name(self) -> str:
        return f"{self.given} {self.surname}"


PEOPLE = [
    Person(
        "Ada",
        "Okafor",
        "ada.okafor@northwind.example",
        "Northwind",
        "VP Engineering",
        "+1 415 555 0101",
    ),
    Person(
        "Ben", "Carter", "ben@carter-design.example", "Carter Design", "Designer", "+1 212 555 0134"
    ),
    Person(
        "Chloé",
        "Martin",
        "chloe.martin@lumen.example",
        "Lumen SA",
        "Product Manager",
        "+33 1 55 55 01 22",
    ),
    Person(
        "Diego",
        "Ramírez",
        "diego.ramirez@northwind.example",
        "Northwind",
        "Staff Engineer",
        "+1 415 555 0177",
    ),
    Person(
        "Emma",
        "Schulz",
        "emma.schulz@kontor.example",
        "Kontor GmbH",
        "Account Manager",
        "+49 30 5555 0199",
    ),
    Person(
        "Farah",
        "Haddad",
        "farah@haddad-legal.example",
        "Haddad Legal",
        "Counsel",
        "+1 646 555 0150",
    ),
    Person(
        "Grace",
        "Liu",
        "grace.liu@northwind.example",
        "Northwind",
        "Data Scientist",
        "+1 415 555 0112",
    ),
    Person("Hiro", "Tanaka", "hiro.tanaka@sakura.example", "Sakura KK", "CTO", "+81 3 5555 0143"),
    Person("Isla", "Murphy", "isla@murphy.example", "Murphy & Co", "Recruiter", "+353 1 555 0166"),
    Person(
        "Jonas", "Berg", "jonas.berg@fjord.example", "Fjord AS", "Sales Director", "+47 22 55 50 18"
    ),
    Person(
        "Kemi", "Adeyemi", "kemi@northwind.example", "Northwind", "Finance Lead", "+1 415 555 0190"
    ),
    Person("Luca", "Romano", "luca.romano@vela.example", "Vela Srl", "Founder", "+39 02 5555 0111"),
    Person(
        "Maya", "Patel", "maya.patel@northwind.example", "Northwind", "QA Lead", "+1 415 555 0125"
    ),
    Person(
        "Noah", "Williams", "noah@williams.example", "Freelance", "Photographer", "+1 503 555 0138"
    ),
]
NEWSLETTERS = [
    ("The Weekly Byte", "news@weeklybyte.example"),
    ("Trailhead Outdoors", "hello@trailhead.example"),
    ("Cityscape Events", "events@cityscape.example"),
]
SHOPS = [
    ("Paperclip Office Supply", "orders@paperclip.example"),
    ("Skyline Air", "receipts@skyline-air.example"),
    ("Cloudbox Hosting", "billing@cloudbox.example"),
]

PROJECTS = ["Alpha", "Beacon", "Cobalt", "Delta Dash"]
CITIES = ["Lisbon", "Osaka", "Berlin", "Toronto", "Nairobi", "Austin"]
FEATURES = ["search", "onboarding", "billing page", "mobile sync", "reporting", "sign-in"]
WORK_SUBJECTS = [
    "Q{q} planning",
    "Budget review for {project}",
    "{project} launch checklist",
    "Offsite in {city}",
    "Design review: {feature}",
    "Customer feedback on {feature}",
    "Weekly sync notes",
    "Contract renewal",
    "Travel to {city} next month",
    "Hiring plan for {project}",
    "Quick question about {feature}",
    "Draft slides for the board",
    "Incident follow-up: {feature} outage",
    "Lunch on {day}?",
]
OPENERS = [
    "Hope your week is going well.",
    "Thanks for the quick turnaround on this.",
    "Following up on our conversation yesterday.",
    "Sharing a few thoughts before the meeting.",
    "Circling back on this one.",
    "Here is where things stand.",
]
MIDDLES = [
    "The numbers look better than we expected, but the timeline is still tight.",
    "I talked to the team and we can move the review to Thursday afternoon.",
    "Could you take a look at the open questions and add your notes?",
    "We still need sign-off from legal before we share it outside the company.",
    "The first draft is in the shared folder; comments are welcome.",
    "Two customers asked for the same change, so it may be worth prioritising.",
    "I would rather ship a smaller version on time than slip the whole thing.",
    "Let's keep the scope as it is and revisit after the launch.",
]
REPLIES = [
    "Sounds good to me.",
    "Thanks, that works.",
    "Agreed. Let's go with the second option.",
    "I'll have a look this afternoon and get back to you.",
    "Can we push this to next week? Things are busy here.",
    "Great news, thanks for pushing this through!",
    "Adding {name} so they can weigh in.",
    "Noted. I updated the doc with your comments.",
]
CLOSINGS = ["Best,", "Thanks,", "Cheers,", "Talk soon,", "Regards,"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


@dataclass
class DemoMessage:
    raw: bytes
    folder: str  # inbox | sent | archive | Receipts | Projects/Alpha
    unread: bool
    starred: bool


@dataclass
class DemoThread:
    messages: list[DemoMessage] = field(default_factory=list)


def png_image(size: int = 24, seed: int = 0) -> bytes:
    """A small valid PNG: a colour gradient, made without any image library."""
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            row += bytes([(x * 10 + seed * 40) % 256, (y * 10) % 256, (seed * 90 + 120) % 256])
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def pdf_document(title: str, lines: list[str]) -> bytes:
    """A minimal one-page PDF with a few lines of text."""
    text = "BT /F1 12 Tf 72 720 Td " + " ".join(
        f"({line.replace('(', '[').replace(')', ']')}) Tj 0 -18 Td" for line in [title, *lines]
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text) + 7} >>\nstream\n{text} ET\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


class MailboxGenerator:
    """Makes threads until about `target` messages exist, newest ending near `now`."""

    def __init__(self, now: int, target: int = 300, seed: int = 2024) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.target = max(1, target)
        self.count = 0

    def threads(self) -> list[DemoThread]:
        made: list[DemoThread] = []
        kinds = ["work"] * 7 + ["alpha", "newsletter", "receipt", "photos", "notes"]
        while self.count < self.target:
            index = len(made)
            kind = self.rng.choice(kinds)
            thread = getattr(self, f"_{kind}")(index)
            made.append(thread)
            self.count += len(thread.messages)
        return made

    # -------------------------------------------------------------------- thread kinds

    def _work(self, index: int, folder_hint: str | None = None) -> DemoThread:
        rng = self.rng
        people = rng.sample(PEOPLE, rng.choice([1, 1, 2, 3]))
        subject = rng.choice(WORK_SUBJECTS).format(
            q=rng.randint(1, 4),
            project=rng.choice(PROJECTS),
            city=rng.choice(CITIES),
            feature=rng.choice(FEATURES),
            day=rng.choice(DAYS),
        )
        if folder_hint == "Projects/Alpha":
            subject = f"[Alpha] {rng.choice(['Milestone', 'Risks', 'Status', 'Demo'])} update"
        elif subject.startswith("Travel"):
            folder_hint = "Travel"
        length = min(rng.choice([1, 2, 2, 3, 3, 4, 5, 6]), self.target - self.count)
        start = self._start(length)
        thread = DemoThread()
        history: list[tuple[str, str, int, str]] = []  # (msgid, name, ts, body)
        me_first = rng.random() < 0.25
        ts = start
        for i in range(max(1, length)):
            mine = (i % 2 == 0) == me_first
            author = (ME[0], ME[1]) if mine else self._pick(people)
            others = [(p.name, p.email) for p in people if p.email != author[1]]
            to = others if mine else [ME]
            cc = [] if mine else others
            body = self._body(author[0], people, history)
            msgid = f"<demo.{index}.{i}@{author[1].split('@')[1]}>"
            raw = self._mime(
                author,
                to,
                cc,
                ("Re: " if i else "") + subject,
                ts,
                msgid,
                body,
                [h[0] for h in history],
                attachment=self._maybe_attachment(i, subject),
            )
            folder = "sent" if mine else (folder_hint or self._received_folder(ts))
            thread.messages.append(self._flags(raw, folder, ts, mine))
            history.append((msgid, author[0], ts, body))
            ts += rng.randint(1, 20) * HOUR // 2
        return thread

    def _alpha(self, index: int) -> DemoThread:
        return self._work(index, folder_hint="Projects/Alpha")

    def _newsletter(self, index: int) -> DemoThread:
        rng = self.rng
        name, address = rng.choice(NEWSLETTERS)
        ts = self._start(1)
        issue = index + 100
        items = rng.sample(MIDDLES, 3)
        html = (
            "<html><head><style>h1{font-family:sans-serif;color:#234}</style></head><body>"
            f'<img src="cid:logo.{index}@demo" alt="{name}" width="24" height="24">'
            f"<h1>{name} — issue #{issue}</h1>"
            + "".join(f"<h2>Story {n + 1}</h2><p>{text}</p>" for n, text in enumerate(items))
            + '<p><a href="https://example.com/unsubscribe">Unsubscribe</a></p></body></html>'
        )
        msg = self._base((name, address), [ME], [], f"{name} #{issue}", ts)
        msg["Message-ID"] = f"<news.{index}@{address.split('@')[1]}>"
        msg["List-Unsubscribe"] = "<https://example.com/unsubscribe>"
        msg.set_content(f"{name} issue #{issue}\n\n" + "\n\n".join(items))
        msg.add_alternative(html, subtype="html")
        html_part = msg.get_body(preferencelist=("html",))
        assert html_part is not None
        html_part.add_related(
            png_image(24, index % 5),
            "image",
            "png",
            cid=f"<logo.{index}@demo>",
            filename="logo.png",
        )
        return DemoThread([self._flags(msg.as_bytes(), self._received_folder(ts), ts, False)])

    def _receipt(self, index: int) -> DemoThread:
        rng = self.rng
        name, address = rng.choice(SHOPS)
        ts = self._start(1)
        number = 40000 + index * 7
        amount = f"{rng.randint(9, 420)}.{rng.randint(0, 99):02d}"
        msg = self._base((name, address), [ME], [], f"Your receipt #{number} from {name}", ts)
        msg["Message-ID"] = f"<receipt.{number}@{address.split('@')[1]}>"
        msg.set_content(f"Thank you for your purchase.\n\nOrder #{number}\nTotal: ${amount}\n")
        pdf = pdf_document(f"{name} receipt #{number}", [f"Total: ${amount}", "Paid by card"])
        msg.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=f"receipt-{number}.pdf"
        )
        return DemoThread([self._flags(msg.as_bytes(), "Receipts", ts, False)])

    def _photos(self, index: int) -> DemoThread:
        person = next(p for p in PEOPLE if p.surname == "Williams")
        ts = self._start(1)
        msg = self._base((person.name, person.email), [ME], [], "Photos from the shoot", ts)
        msg["Message-ID"] = f"<photos.{index}@williams.example>"
        msg.set_content("Here are a few previews. Full resolution files follow on Monday.\n")
        for n in range(2):
            msg.add_attachment(
                png_image(32, index + n), "image", "png", filename=f"preview-{index}-{n + 1}.png"
            )
        return DemoThread([self._flags(msg.as_bytes(), self._received_folder(ts), ts, False)])

    def _notes(self, index: int) -> DemoThread:
        ts = self._start(1)
        person = self.rng.choice(PEOPLE)
        msg = self._base((ME[0], ME[1]), [(person.name, person.email)], [], "Meeting notes", ts)
        msg["Message-ID"] = f"<notes.{index}@example.com>"
        msg.set_content(f"Hi {person.given},\n\nNotes from today are attached.\n\n{ME[0]}\n")
        notes = "\n".join(f"- {line}" for line in self.rng.sample(MIDDLES, 4)) + "\n"
        msg.add_attachment(notes.encode(), "text", "plain", filename="meeting-notes.txt")
        return DemoThread([self._flags(msg.as_bytes(), "sent", ts, True)])

    # -------------------------------------------------------------------- pieces

    def _start(self, length: int) -> int:
        """A start time such that the thread ends before now; most mail is recent."""
        age = int(self.rng.triangular(0, 75, 3) * DAY)
        return max(self.now - age - length * 6 * HOUR, self.now - 80 * DAY)

    def _pick(self, people: list[Person]) -> tuple[str, str]:
        person = self.rng.choice(people)
        return person.name, person.email

    def _received_folder(self, ts: int) -> str:
        old = self.now - ts > 21 * DAY
        return "archive" if old and self.rng.random() < 0.6 else "inbox"

    def _flags(self, raw: bytes, folder: str, ts: int, mine: bool) -> DemoMessage:
        recent = self.now - ts < 5 * DAY
        unread = not mine and self.rng.random() < (0.6 if recent else 0.08)
        return DemoMessage(raw, folder, unread, self.rng.random() < 0.08)

    def _body(
        self, author: str, people: list[Person], history: list[tuple[str, str, int, str]]
    ) -> str:
        rng = self.rng
        greeting = "Hi all," if len(people) > 1 else f"Hi {people[0].given},"
        if author != ME[0]:
            greeting = f"Hi {ME[0].split()[0]},"
        if history:
            text = rng.choice(REPLIES).format(name=rng.choice(PEOPLE).given)
        else:
            text = f"{rng.choice(OPENERS)} {' '.join(rng.sample(MIDDLES, 2))}"
        body = f"{greeting}\n\n{text}\n\n{rng.choice(CLOSINGS)}\n{author.split()[0]}\n"
        if history:
            _, name, ts, previous = history[-1]
            when = format_datetime(datetime.fromtimestamp(ts, timezone.utc))
            quoted = "\n".join("> " + line if line else ">" for line in previous.splitlines())
            body += f"\nOn {when}, {name} wrote:\n{quoted}\n"
        return body

    def _maybe_attachment(self, position: int, subject: str) -> tuple[str, str, bytes] | None:
        if position or self.rng.random() > 0.12:
            return None
        if self.rng.random() < 0.5:
            return (
                "summary.pdf",
                "application/pdf",
                pdf_document(subject, self.rng.sample(MIDDLES, 2)),
            )
        return ("diagram.png", "image/png", png_image(32, self.rng.randint(0, 9)))

    def _base(
        self,
        author: tuple[str, str],
        to: list[tuple[str, str]],
        cc: list[tuple[str, str]],
        subject: str,
        ts: int,
    ) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = formataddr(author)
        msg["To"] = ", ".join(formataddr(p) for p in to)
        if cc:
            msg["Cc"] = ", ".join(formataddr(p) for p in cc)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(datetime.fromtimestamp(ts, timezone.utc))
        return msg

    def _mime(
        self,
        author: tuple[str, str],
        to: list[tuple[str, str]],
        cc: list[tuple[str, str]],
        subject: str,
        ts: int,
        msgid: str,
        body: str,
        references: list[str],
        attachment: tuple[str, str, bytes] | None = None,
    ) -> bytes:
        msg = self._base(author, to, cc, subject, ts)
        msg["Message-ID"] = msgid
        if references:
            msg["In-Reply-To"] = references[-1]
            msg["References"] = " ".join(references)
        msg.set_content(body)
        if attachment:
            filename, ctype, data = attachment
            maintype, subtype = ctype.split("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        return msg.as_bytes()
