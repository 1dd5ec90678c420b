"""Files in the demo: a customer's photo of a stain on their new jeans, and their receipt.

Both are made here, byte by byte, with nothing but the standard library (the server never
imports Qt): a PNG drawn pixel by pixel and a one-page PDF of plain text.  They go on the
customer's first message of one of Ada's open tickets (one about a stain or damage if there
is one), so the desk shows a thumbnail and a PDF chip in that thread from the start.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from app.models.attachments import PART_BYTES
from app.models.tables import T_ATTACHMENTS, T_BLOB_PARTS, T_BLOBS
from app.server.demo.office import DemoOffice

Row = dict[str, Any]
PHOTO_SIZE = (480, 320)
_ABOUT_DAMAGE = ("stain", "damag", "broken", "torn", "defect")


def _png(width: int, height: int, pixel: Any) -> bytes:
    """An 8-bit RGB PNG whose colour at (x, y) is ``pixel(x, y)``."""
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # no filter
        for x in range(width):
            raw.extend(pixel(x, y))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


def stain_photo() -> bytes:
    """A photo-like close-up of denim with a dark stain on it."""
    width, height = PHOTO_SIZE
    cx, cy = 250, 150

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        twill = ((x + 2 * y) // 3) % 4  # the diagonal weave
        r, g, b = 52 + 6 * twill, 82 + 7 * twill, 132 + 9 * twill
        if 262 <= y <= 264 and (x // 9) % 2 == 0:  # a seam's stitches
            r, g, b = 196, 150, 70
        elif 266 <= y <= 268:  # the fold beside the seam
            r, g, b = r - 18, g - 18, b - 18
        # An irregular stain: an ellipse with a wavy edge, darker in the middle.
        dx, dy = (x - cx) / 95, (y - cy) / 62
        edge = 1 + 0.18 * ((x * 13 + y * 7) % 11) / 11
        d = dx * dx + dy * dy
        if d < edge:
            k = 0.45 + 0.3 * d / edge
            r, g, b = (
                int(r * k + 60 * (1 - k)),
                int(g * k + 38 * (1 - k)),
                int(b * k + 20 * (1 - k)),
            )
        return (r, g, b)

    return _png(width, height, pixel)


def receipt_pdf(customer: str, when: datetime) -> bytes:
    """A one-page PDF receipt in Helvetica (plain ASCII text)."""
    lines = [
        ("F2", 20, "Order receipt"),
        ("F1", 12, f"Customer: {customer}"),
        ("F1", 12, f"Date of purchase: {when:%d %B %Y}"),
        ("F1", 12, "1 x Slim-fit jeans, dark wash, W32 L32 ........ $79.00"),
        ("F1", 12, "Returns and exchanges: within 30 days with this receipt."),
    ]
    text = ["BT"]
    y = 760
    for font, size, line in lines:
        safe = line.encode("ascii", "replace").decode().replace("\\", "\\\\")
        safe = safe.replace("(", "\\(").replace(")", "\\)")
        text.append(f"/{font} {size} Tf 1 0 0 1 56 {y} Tm ({safe}) Tj")
        y -= 34 if font == "F2" else 22
    text.append("ET")
    stream = "\n".join(text).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def _store(conn: Connection, data: bytes, now: datetime) -> str:
    sha256 = hashlib.sha256(data).hexdigest()
    conn.execute(insert(T_BLOBS).values(sha256=sha256, size=len(data), created_at=now))
    parts = [
        {
            "owner": "",
            "sha256": sha256,
            "part_no": i // PART_BYTES,
            "data": data[i : i + PART_BYTES],
        }
        for i in range(0, len(data), PART_BYTES)
    ]
    conn.execute(insert(T_BLOB_PARTS), parts)
    return sha256


def add_attachments(conn: Connection, office: DemoOffice) -> int:
    """Store the demo's files and put them on a message; returns how many attachments."""
    ada = office.agent_ids.get("ada@example.com")
    messages: dict[str, list[Row]] = defaultdict(list)
    for message in office.messages:
        messages[message["ticket_id"]].append(message)
    open_tickets = sorted(
        (
            t
            for t in office.tickets
            if t["assignee_id"] == ada and t["status"] == "open" and t["channel"] != "phone"
        ),
        key=lambda t: (not any(w in t["subject"].lower() for w in _ABOUT_DAMAGE), t["number"]),
    )
    for ticket in open_tickets:
        thread = sorted(messages[ticket["id"]], key=lambda m: m["created_at"])
        written = [m for m in thread if m["author_type"] == "customer"]
        if len(thread) < 2 or not written:
            continue
        message = written[0]
        customer = next(
            (c["name"] for c in office.customers if c["id"] == ticket["customer_id"]), "Customer"
        )
        files = [
            ("IMG_4127.png", "image/png", stain_photo(), PHOTO_SIZE),
            (
                "Order receipt.pdf",
                "application/pdf",
                receipt_pdf(customer, message["created_at"]),
                None,
            ),
        ]
        for position, (name, mime, data, size) in enumerate(files):
            sha256 = _store(conn, data, message["created_at"])
            conn.execute(
                insert(T_ATTACHMENTS).values(
                    id=office.new_id(),
                    message_id=message["id"],
                    ticket_id=ticket["id"],
                    sha256=sha256,
                    file_name=name,
                    mime_type=mime,
                    size=len(data),
                    width=size[0] if size else None,
                    height=size[1] if size else None,
                    position=position,
                    created_at=message["created_at"],
                )
            )
        return len(files)
    return 0
